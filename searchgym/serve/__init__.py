"""searchgym.serve"""
