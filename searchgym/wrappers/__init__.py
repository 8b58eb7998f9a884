"""searchgym.wrappers"""
