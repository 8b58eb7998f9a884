"""searchgym.envs"""
