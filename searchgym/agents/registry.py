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


_LLM_OPTIONS = ("max_new_tokens", "temperature", "top_p", "seed", "batch_size", "chat")


def _pick(options: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The options this agent understands: the CLI passes the same options to every agent."""
    return {name: options[name] for name in names if name in options}


def _llm(**options: Any) -> Agent:
    """``--agents llm --agent-option model=/path/to/hf_folder`` (default: bundled SmolLM2)."""
    from searchgym.agents.llm import LLMAgent

    picked = _pick(options, _LLM_OPTIONS + ("device", "dtype", "num_threads"))
    model = options.get("model")
    return LLMAgent(None if model is None else str(model), **picked)


def _openai(**options: Any) -> Agent:
    """``--agents openai --agent-option base_url=http://host:8000/v1 --agent-option model=name``."""
    from searchgym.agents.llm import OpenAIAgent

    if not options.get("base_url") or not options.get("model"):
        raise ValueError("the openai agent needs --agent-option base_url=http://host:port/v1 "
                         "and --agent-option model=<served model id>")
    picked = _pick(options, _LLM_OPTIONS + ("api_key", "timeout", "max_retries"))
    return OpenAIAgent(str(options["base_url"]), str(options["model"]), **picked)


AGENTS: dict[str, Callable[..., Agent]] = {
    "oracle": _oracle, "heuristic": _heuristic, "random": _random, "llm": _llm, "openai": _openai,
}


def register_agent(name: str, factory: Callable[..., Agent]) -> None:
    """Add an agent name; the factory gets every ``--agent-option`` and must ignore unknown ones."""
    AGENTS[name] = factory


def make_agent(name: str, **options: Any) -> Agent:
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; available: {sorted(AGENTS)}")
    return AGENTS[name](**options)
