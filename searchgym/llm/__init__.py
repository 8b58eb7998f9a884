"""searchgym.llm"""
