"""Shared machinery of the reward wrappers: reward *terms*, the wrapper that applies one, and the
``info["reward_parts"]`` bookkeeping every wrapper follows.

A :class:`RewardTerm` computes one reward component from an episode (it is reset with the
episode and sees every step). A :class:`RewardTermWrapper` applies one term to a Gymnasium env;
:class:`~searchgym.wrappers.rewards.WeightedReward` applies several in one wrapper. Splitting the
term from the wrapper is what lets ``WeightedReward`` combine components without stacking
wrappers inside itself (which would make ``env.spec`` list them twice).

Bookkeeping contract (kept by every wrapper in this package)
-----------------------------------------------------------
* ``info["reward_parts"]``: ``{component name: raw (unweighted) value this step}``.
  The first reward wrapper above the env records the env's own reward as ``"env"``. Every
  wrapper *adds* its components and never drops another wrapper's; a name already present gets
  a ``#2``, ``#3`` ... suffix, so two stacked copies of a wrapper both show up.
* ``info["reward_weights"]``: ``{component name: weight}`` such that, after any stack of these
  wrappers, ``reward == sum(reward_weights[k] * reward_parts[k])``. A wrapper in
  ``mode="add"`` (shaping terms) adds ``weight * value`` to the reward it received; a wrapper in
  ``mode="replace"`` (outcome terms) sets the weights of everything below it to 0 and returns
  ``weight * value``: the parts below stay visible for logging but no longer count.
* ``info["reward_details"]``: optional ``{component name: dict}`` of diagnostics (e.g. the
  citations parsed, the format verdict).

Parts are reported on every step (0.0 on steps where the component does not apply), so a
trainer can sum them per episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

__all__ = [
    "MODES",
    "RewardTerm",
    "RewardTermWrapper",
    "StepContext",
    "merge_reward_parts",
]

MODES = ("add", "replace")


@dataclass
class StepContext:
    """What a term sees after the inner env stepped."""

    env: Any  # the unwrapped SearchQAEnv
    action: Any  # the action as this wrapper received it (before any term rewrote it)
    observation: str
    reward: float  # the reward the inner env/wrapper returned
    terminated: bool
    truncated: bool
    info: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    @property
    def state(self) -> Any:
        return self.env.state

    @property
    def task(self) -> Any:
        return self.env.task

    @property
    def answered(self) -> bool:
        return self.info.get("action_kind") == "answer"


class RewardTerm:
    """One reward component. Subclasses override :meth:`score` and, when they keep episode
    state, :meth:`reset`. :meth:`preprocess_action` may rewrite the action before the env sees
    it (used by the citation term to strip citations from the answer)."""

    name = "term"

    def reset(self, env: Any, observation: str, info: dict[str, Any]) -> None:
        """Start of an episode (``env`` is the unwrapped env, already reset)."""

    def preprocess_action(self, env: Any, action: Any) -> Any:
        return action

    def score(self, ctx: StepContext) -> float:
        raise NotImplementedError

    def details(self) -> dict[str, Any] | None:
        """Diagnostics for the last scored step, put in ``info["reward_details"][name]``."""
        return None


def _unique_key(name: str, taken: dict[str, Any]) -> str:
    if name not in taken:
        return name
    index = 2
    while f"{name}#{index}" in taken:
        index += 1
    return f"{name}#{index}"


def merge_reward_parts(
    info: dict[str, Any],
    inner_reward: float,
    components: list[tuple[str, float, float, dict[str, Any] | None]],
    mode: str,
) -> float:
    """Record ``components`` (``(name, value, weight, details)``) in ``info`` and return the new
    reward, following the module's bookkeeping contract. ``info`` is updated in place (its
    nested dicts are copied first, so an inner wrapper's dicts are never mutated)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    parts = dict(info.get("reward_parts") or {})
    weights = dict(info.get("reward_weights") or {})
    details = dict(info.get("reward_details") or {})
    if not parts:
        parts["env"] = float(inner_reward)
        weights["env"] = 1.0
    if mode == "replace":
        weights = dict.fromkeys(weights, 0.0)
        total = 0.0
    else:
        total = float(inner_reward)
    for name, value, weight, detail in components:
        key = _unique_key(name, parts)
        parts[key] = float(value)
        weights[key] = float(weight)
        total += float(weight) * float(value)
        if detail is not None:
            details[key] = detail
    info["reward_parts"] = parts
    info["reward_weights"] = weights
    if details:
        info["reward_details"] = details
    return total


class RewardTermWrapper(gym.Wrapper, RecordConstructorArgs):
    """Apply one :class:`RewardTerm` to an env (see the module doc for the reward contract).

    Subclasses build their term and call ``RecordConstructorArgs.__init__`` with their own
    constructor arguments (so ``env.spec`` can rebuild them) before calling this ``__init__``.
    """

    def __init__(
        self, env: gym.Env, term: RewardTerm, *, weight: float = 1.0, mode: str = "add", name: str | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        gym.Wrapper.__init__(self, env)
        self.term = term
        self.weight = float(weight)
        self.mode = mode
        self.component_name = name or term.name

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        self.term.reset(self.env.unwrapped, observation, info)
        return observation, info

    def step(self, action: Any):
        unwrapped = self.env.unwrapped
        forwarded = self.term.preprocess_action(unwrapped, action)
        observation, reward, terminated, truncated, info = self.env.step(forwarded)
        ctx = StepContext(unwrapped, action, observation, float(reward), terminated, truncated, info)
        value = float(self.term.score(ctx))
        new_reward = merge_reward_parts(
            info, float(reward), [(self.component_name, value, self.weight, self.term.details())], self.mode
        )
        return observation, new_reward, terminated, truncated, info
