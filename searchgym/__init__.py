"""searchgym: Gymnasium environments for LLM search agents on synthetic, solvable worlds."""

__version__ = "0.1.0"
