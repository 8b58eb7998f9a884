"""Gymnasium environments of searchgym (registered on ``import searchgym``)."""

from searchgym.envs.config import EnvConfig, SpecError, load_spec
from searchgym.envs.search_qa import SearchQAEnv

__all__ = ["EnvConfig", "SearchQAEnv", "SpecError", "load_spec"]
