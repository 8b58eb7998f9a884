"""The agent interface used by the evaluation loop and the CLI.

An agent sees what a policy would see: the prompt and each new observation. ``begin`` also
receives the env so that privileged baselines (the oracle) can read ``env.unwrapped.task``;
honest agents must ignore it. Batched agents (LLMs) additionally implement ``act_batch``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym


@runtime_checkable
class Agent(Protocol):
    name: str

    def begin(self, observation: str, info: dict[str, Any], env: gym.Env, seed: int) -> None:
        """Start an episode: ``observation`` is the prompt; ``seed`` drives any randomness."""

    def act(self, observation: str, info: dict[str, Any]) -> str | dict[str, Any]:
        """The next action (Search-R1 tag text or a tool-call dict)."""
