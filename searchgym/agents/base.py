"""The agent interface used by the evaluation loop and the CLI.

An honest agent sees what a deployed policy would see: the prompt (``reset``'s observation)
and each new observation, plus the ``info`` dicts, whose ``info["results"]`` holds the same
search results as structured records (rank, doc id, title, text) so an agent need not parse
them out of the text. It never receives the env: nothing in its hands can reach the gold
answer.

Privileged baselines (the oracle, which follows the gold chain to prove every task solvable)
opt in explicitly with the class attribute ``privileged = True``; only they are handed the env,
as ``begin(..., env=env)``. The evaluation loop calls :func:`begin_episode` /
:func:`begin_episodes`, which apply that rule, so a custom agent cannot receive the env by
accident.

Batched agents (LLMs) additionally implement ``begin_batch`` / ``act_batch`` (see
:class:`searchgym.agents.llm.LLMAgent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

__all__ = ["Agent", "PrivilegedAgent", "begin_episode", "begin_episodes", "is_privileged"]


@runtime_checkable
class Agent(Protocol):
    """What ``searchgym eval`` runs. ``name`` labels the agent's rows in tables and reports."""

    name: str

    def begin(self, observation: str, info: dict[str, Any], seed: int) -> None:
        """Start an episode: ``observation`` is the prompt; ``seed`` drives any randomness."""

    def act(self, observation: str, info: dict[str, Any]) -> str | dict[str, Any]:
        """The next action (Search-R1 tag text or a tool-call dict) for the latest observation."""


@runtime_checkable
class PrivilegedAgent(Protocol):
    """A baseline allowed to read the env (``env.unwrapped.task``): declares ``privileged = True``."""

    name: str
    privileged: bool

    def begin(self, observation: str, info: dict[str, Any], seed: int, *, env: gym.Env) -> None:
        """Start an episode with access to the env (the gold task)."""

    def act(self, observation: str, info: dict[str, Any]) -> str | dict[str, Any]:
        """The next action."""


def is_privileged(agent: Any) -> bool:
    """Whether ``agent`` opted in to receive the env (``privileged = True``, exactly)."""
    return getattr(agent, "privileged", False) is True


def begin_episode(agent: Any, observation: str, info: dict[str, Any], seed: int, env: gym.Env | None) -> None:
    """Start ``agent``'s episode, handing it the env only if it is privileged (callers pass None
    only for agents that are not)."""
    if is_privileged(agent):
        agent.begin(observation, info, seed, env=env)
    else:
        agent.begin(observation, info, seed)


def begin_episodes(
    agent: Any,
    observations: Sequence[str],
    infos: Sequence[dict[str, Any]],
    seeds: Sequence[int],
    slots: Sequence[int] | None,
    envs: Sequence[gym.Env],
) -> None:
    """The batched :func:`begin_episode`: ``begin_batch`` gets ``envs=`` only if privileged."""
    if is_privileged(agent):
        agent.begin_batch(observations, infos, seeds, slots=slots, envs=envs)
    else:
        agent.begin_batch(observations, infos, seeds, slots=slots)
