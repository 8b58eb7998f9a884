"""Snapshots, pickling and deep copies of a SearchQA env in the middle of an episode.

Why: tree rollouts (TreePS-RAG and other branching searches) expand several continuations of one
prefix, Ray ships envs to actors, and Gymnasium's ``AsyncVectorEnv`` with the ``spawn`` start
method pickles what it sends. All of them need an env that can be copied mid-episode and then
continue exactly as the original would.

What a copy carries, and what it rebuilds:

* **carried**: the episode (:class:`~searchgym.envs.episode.EpisodeState`: task, counters,
  transcript, evidence ledgers), the env's RNG (so the next ``reset()`` draws the same task),
  the GRPO ``group_seed``, and the engine's per-episode state (a simulated engine's context,
  ``noise_prob`` and ``last_calls``; the documents a self-search engine generated this episode).
* **rebuilt from the config**: the world bundle and an engine the env built itself. In the same
  process both come back from the in-process memo (no work); in a new process from the disk
  cache. A pickle is therefore small (kilobytes), whatever the corpus size.
* an engine given to the env explicitly (``SearchQAEnv(engine=...)``, or swapped in by a
  wrapper) is **shared** by a deep copy, as the sub-envs of a vector env share theirs, and
  **pickled** with the env (it must be picklable; every searchgym engine is).

``env.unwrapped.snapshot()`` / ``restore(snapshot)`` are the cheap in-process form: no bundle or
engine work at all, just copies of the episode's containers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from searchgym.search.base import restore_state, set_context, snapshot_state

if TYPE_CHECKING:
    from searchgym.bundle import WorldBundle
    from searchgym.envs.config import EnvConfig
    from searchgym.envs.episode_state import EpisodeState

__all__ = ["EnvSnapshot", "SnapshotMixin"]


@dataclass(frozen=True)
class EnvSnapshot:
    """One moment of an env: restore it with ``env.unwrapped.restore(snapshot)``."""

    episode: Any  # EpisodeState | None (a private copy)
    np_random: Any  # numpy Generator | None (a private copy)
    np_random_seed: int | None
    group_seed: int
    engine_state: Any  # whatever the engine's snapshot_state() returned, or None
    rewards_state: Any = None  # the spec's reward terms' per-episode state, or None
    total_reward: float = 0.0  # the episode's reward so far


class SnapshotMixin:
    """``snapshot``/``restore``, ``__getstate__``/``__setstate__`` and ``__deepcopy__`` for
    :class:`~searchgym.envs.search_qa.SearchQAEnv` (see the module doc)."""

    if TYPE_CHECKING:  # what the mixin uses of the env it is mixed into
        config: EnvConfig
        render_mode: str | None
        bundle: WorldBundle
        engine: Any
        built_engine: Any
        group_seed: int
        spec: Any
        _state: EpisodeState | None
        episode: Any  # Episode | None
        rewards: Any  # RewardComposition | None

        def __init__(self, config: EnvConfig, *, render_mode: str | None = None, engine: Any = None) -> None: ...

    def snapshot(self) -> EnvSnapshot:
        """The env's current state, independent of the env from now on (cheap: no engine or
        bundle work; the containers of the episode are copied, the task is shared)."""
        state = self._state
        return EnvSnapshot(
            episode=None if state is None else state.copy(),
            np_random=copy.deepcopy(self._np_random),
            np_random_seed=self._np_random_seed,
            group_seed=self.group_seed,
            engine_state=snapshot_state(self.engine, list(state.retrieved) if state is not None else []),
            rewards_state=None if self.rewards is None else self.rewards.snapshot(),
            total_reward=0.0 if self.episode is None else self.episode.total_reward,
        )

    def restore(self, snapshot: EnvSnapshot) -> None:
        """Return to ``snapshot`` (taken from this env or from a copy of it); the snapshot itself
        stays usable, so one prefix can be restored any number of times."""
        if not isinstance(snapshot, EnvSnapshot):
            raise TypeError(f"restore() takes an EnvSnapshot from snapshot(), got {type(snapshot).__name__}")
        episode = snapshot.episode
        if episode is not None and episode.task.world_id != self.bundle.world.world_id:
            raise ValueError(
                f"the snapshot's task belongs to world {episode.task.world_id}, "
                f"not to this env's world {self.bundle.world.world_id}"
            )
        self.group_seed = snapshot.group_seed
        self._state = None if episode is None else episode.copy()
        if self.episode is not None:
            self.episode.total_reward = snapshot.total_reward
        if self.rewards is not None and snapshot.rewards_state is not None:
            self.rewards.restore(snapshot.rewards_state)
        self._np_random = copy.deepcopy(snapshot.np_random)
        self._np_random_seed = snapshot.np_random_seed
        restored = snapshot.engine_state is not None and restore_state(self.engine, snapshot.engine_state)
        if not restored and self._state is not None:
            set_context(self.engine, self._state.task.task_key, self.group_seed)

    def _carried_engine(self) -> Any:
        """The engine a copy must reuse (None: the copy rebuilds its own from the config)."""
        return None if self.engine is self.built_engine else self.engine

    def __getstate__(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "render_mode": self.render_mode,
            "engine": self._carried_engine(),
            "spec": getattr(self, "spec", None),
            "snapshot": self.snapshot(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, state["config"], render_mode=state["render_mode"], engine=state["engine"])
        self.spec = state["spec"]
        self.restore(state["snapshot"])

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        engine = self._carried_engine()
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        type(self).__init__(clone, self.config, render_mode=self.render_mode, engine=engine)
        # A wrapper that holds the engine too (a noise curriculum) must see the copy's engine.
        memo[id(self.engine)] = clone.engine
        clone.spec = copy.deepcopy(getattr(self, "spec", None), memo)
        clone.restore(self.snapshot())
        return clone
