"""searchgym.corpus"""
