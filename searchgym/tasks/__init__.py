"""searchgym.tasks"""
