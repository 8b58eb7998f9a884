"""searchgym.integrations"""
