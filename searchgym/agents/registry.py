"""Agent names for the CLI (``--agents oracle,heuristic,random,llm``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from searchgym.agents.base import Agent


def _oracle(**_: Any) -> Agent:
    from searchgym.agents.oracle import OracleAgent

    return OracleAgent()


def _heuristic(**_: Any) -> Agent:
    from searchgym.agents.heuristic import HeuristicAgent

    return HeuristicAgent()


def _random(**_: Any) -> Agent:
    from searchgym.agents.random_agent import RandomAgent

    return RandomAgent()


AGENTS: dict[str, Callable[..., Agent]] = {"oracle": _oracle, "heuristic": _heuristic, "random": _random}


def register_agent(name: str, factory: Callable[..., Agent]) -> None:
    AGENTS[name] = factory


def make_agent(name: str, **options: Any) -> Agent:
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; available: {sorted(AGENTS)}")
    return AGENTS[name](**options)
