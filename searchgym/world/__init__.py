"""searchgym.world"""
