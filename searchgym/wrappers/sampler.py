"""Adaptive task sampling: keep training on tasks the policy sometimes solves.

GRPO-style trainers normalise rewards within a group of rollouts of the same task; a task that
every rollout solves (or every rollout fails) gives all-equal rewards, zero advantage and no
gradient. DAPO's dynamic sampling drops such groups after the fact; :class:`AdaptiveTaskSampler`
avoids drawing them in the first place by tracking each task's recent success rate and sampling
mostly the *learnable* ones (rate strictly between 0 and 1), weighted by the outcome variance
``r (1 - r)``. Tasks never tried (or tried fewer than ``min_attempts`` times) are explored
first-class; retired tasks (always solved / never solved) are revisited with a small
probability, since the policy changes.

The sampler's whole state (per-task outcomes and the RNG) is JSON: :meth:`save` / :meth:`load`
resume a run exactly.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AdaptiveTaskSampler", "STATUSES"]

STATUSES = ("new", "learnable", "solved", "unsolved")
STATE_VERSION = 1


class AdaptiveTaskSampler:
    """Sample task keys, favouring tasks whose recent success rate is neither 0 nor 1.

    Args:
        task_keys: the keys to sample from.
        window: outcomes remembered per task (the success rate is their mean).
        min_attempts: below this many outcomes a task is ``"new"`` (always eligible).
        revisit_prob: probability of drawing a retired (``"solved"``/``"unsolved"``) task.
        low, high: a task with rate ``<= low`` is ``"unsolved"``, ``>= high`` ``"solved"``.
        floor: minimum sampling weight of a learnable task (its weight is
            ``max(floor, 4 r (1 - r))``; new tasks weigh 1).
        seed: RNG seed.
    """

    def __init__(
        self,
        task_keys: Iterable[str],
        window: int = 8,
        min_attempts: int = 2,
        revisit_prob: float = 0.05,
        low: float = 0.0,
        high: float = 1.0,
        floor: float = 0.1,
        seed: int | None = None,
    ) -> None:
        self.task_keys = list(dict.fromkeys(task_keys))
        if not self.task_keys:
            raise ValueError("AdaptiveTaskSampler needs at least one task key")
        if window < 1 or min_attempts < 1 or min_attempts > window:
            raise ValueError(f"need 1 <= min_attempts <= window, got min_attempts={min_attempts}, window={window}")
        if not 0.0 <= revisit_prob <= 1.0:
            raise ValueError(f"revisit_prob must be in [0, 1], got {revisit_prob}")
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
        self.window = int(window)
        self.min_attempts = int(min_attempts)
        self.revisit_prob = float(revisit_prob)
        self.low = float(low)
        self.high = float(high)
        self.floor = float(floor)
        self.outcomes: dict[str, deque[float]] = {}
        self.attempts: dict[str, int] = {}
        self.rng = np.random.default_rng(seed)

    # -- statistics ---------------------------------------------------------------------------
    def record(self, task_key: str, outcome: float) -> None:
        """Add one rollout outcome (1/0 success, or a score in [0, 1]) for ``task_key``."""
        outcome = float(outcome)
        if not 0.0 <= outcome <= 1.0:
            raise ValueError(f"outcome must be in [0, 1], got {outcome}")
        self.outcomes.setdefault(task_key, deque(maxlen=self.window)).append(outcome)
        self.attempts[task_key] = self.attempts.get(task_key, 0) + 1

    def success_rate(self, task_key: str) -> float | None:
        outcomes = self.outcomes.get(task_key)
        return float(np.mean(outcomes)) if outcomes else None

    def status(self, task_key: str) -> str:
        outcomes = self.outcomes.get(task_key)
        if not outcomes or len(outcomes) < self.min_attempts:
            return "new"
        rate = float(np.mean(outcomes))
        if rate <= self.low:
            return "unsolved"
        if rate >= self.high:
            return "solved"
        return "learnable"

    def counts(self) -> dict[str, int]:
        result = dict.fromkeys(STATUSES, 0)
        for key in self.task_keys:
            result[self.status(key)] += 1
        return result

    def keys_with_status(self, status: str) -> list[str]:
        return [key for key in self.task_keys if self.status(key) == status]

    # -- sampling -----------------------------------------------------------------------------
    def weight(self, task_key: str) -> float:
        status = self.status(task_key)
        if status == "new":
            return 1.0
        if status == "learnable":
            rate = self.success_rate(task_key) or 0.0
            return max(self.floor, 4.0 * rate * (1.0 - rate))
        return 0.0

    def sample(self) -> str:
        """One task key (see the class doc for the rule)."""
        statuses = {key: self.status(key) for key in self.task_keys}
        retired = [key for key, status in statuses.items() if status in ("solved", "unsolved")]
        active = [key for key, status in statuses.items() if status in ("new", "learnable")]
        if retired and (not active or self.rng.random() < self.revisit_prob):
            return retired[int(self.rng.integers(len(retired)))]
        weights = np.array([self.weight(key) for key in active], dtype=float)
        return active[int(self.rng.choice(len(active), p=weights / weights.sum()))]

    # -- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "config": {
                "window": self.window,
                "min_attempts": self.min_attempts,
                "revisit_prob": self.revisit_prob,
                "low": self.low,
                "high": self.high,
                "floor": self.floor,
            },
            "task_keys": list(self.task_keys),
            "outcomes": {key: list(values) for key, values in self.outcomes.items()},
            "attempts": dict(self.attempts),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported sampler state version {state.get('version')!r}")
        for key, value in state.get("config", {}).items():
            setattr(self, key, type(getattr(self, key))(value))
        self.task_keys = list(state["task_keys"])
        self.outcomes = {key: deque(values, maxlen=self.window) for key, values in state["outcomes"].items()}
        self.attempts = {key: int(n) for key, n in state.get("attempts", {}).items()}
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]

    def to_json(self) -> str:
        return json.dumps(self.state_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AdaptiveTaskSampler:
        state = json.loads(text)
        sampler = cls(state["task_keys"], **state.get("config", {}))
        sampler.load_state_dict(state)
        return sampler

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state as JSON, atomically (a crash never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AdaptiveTaskSampler:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        return f"AdaptiveTaskSampler({len(self.task_keys)} tasks, {self.counts()})"
