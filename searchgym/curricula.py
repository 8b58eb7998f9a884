"""Curricula as task samplers fed by episode results, usable by any driver.

A curriculum here is a :class:`TaskSampler`: ``sample()`` gives the next task key, ``observe(info)``
takes the last info of a finished episode (its ``task_key`` and outcome metrics, the same dict on
every path). The same object therefore drives

* a single env through the :class:`~searchgym.wrappers.curriculum.HopCurriculum` /
  :class:`~searchgym.wrappers.curriculum.AdaptiveTaskSampling` wrappers,
* :class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv` (``task_sampler=``: every reset and
  autoreset of a sub-env draws from it, every finished episode feeds it),
* trainers: verl's curriculum sampler interface
  (:class:`~searchgym.integrations.verl_curriculum.SearchGymCurriculumSampler`), TRL's environment
  factory (``trl_environment_factory(curriculum=...)``: env-owned tasks, fed by ``get_reward``).

:class:`StageCurriculum` stages tasks by hop count or difficulty tier (``tier`` 1-5 of
:mod:`searchgym.tasks.tiers`) and promotes / demotes on the rolling success rate;
:class:`AdaptiveCurriculum` samples tasks whose success rate is neither 0 nor 1
(:class:`~searchgym.wrappers.sampler.AdaptiveTaskSampler`). Both save and restore their state
as JSON-able dicts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from searchgym.envs.task_pool import served_tasks

if TYPE_CHECKING:  # imported where used: searchgym.wrappers imports this module
    from searchgym.wrappers.sampler import AdaptiveTaskSampler

__all__ = [
    "DEFAULT_STAGES",
    "TIER_STAGES",
    "AdaptiveCurriculum",
    "StageCurriculum",
    "TaskSampler",
    "episode_outcome",
]

DEFAULT_STAGES: tuple[dict[str, Any], ...] = (
    {"hops": [1]},
    {"hops": [1, 2]},
    {"hops": [2, 3]},
    {"hops": [3, 4]},
)
# The hop curriculum generalised: stages by difficulty tier (searchgym.tasks.tiers), for specs
# whose tasks span tiers (every task has one; the deep families record it at generation).
TIER_STAGES: tuple[dict[str, Any], ...] = (
    {"tiers": [1, 2]},
    {"tiers": [2, 3]},
    {"tiers": [3, 4]},
    {"tiers": [4, 5]},
)
_STAGE_KEYS = {"hops", "task_types", "split", "tiers"}


@runtime_checkable
class TaskSampler(Protocol):
    """What drivers need of a curriculum."""

    def sample(self) -> str:
        """The key of the next task to serve."""
        ...

    def observe(self, info: Mapping[str, Any]) -> str | None:
        """Feed the last info of a finished episode; returns an event (``"promote"`` ...) or None."""
        ...


def episode_outcome(info: Mapping[str, Any], metric: str, threshold: float | None) -> float:
    """An episode's outcome in [0, 1]: ``info[metric] >= threshold`` as 1/0, or the clipped raw
    value when ``threshold`` is None (e.g. F1)."""
    value = float(info.get(metric) or 0.0)
    if threshold is not None:
        return float(value >= threshold)
    return min(max(value, 0.0), 1.0)


def _rng_state(rng: np.random.Generator | None) -> dict[str, Any] | None:
    return None if rng is None else dict(rng.bit_generator.state)


def _rng_from_state(state: dict[str, Any] | None) -> np.random.Generator | None:
    if state is None:
        return None
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def stage_task_keys(bundle: Any, config: Any, stages: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Each stage's task keys within an env's pool (one-line errors for bad or empty stages)."""
    keys = []
    for index, stage in enumerate(stages):
        unknown = set(stage) - _STAGE_KEYS
        if unknown:
            raise ValueError(f"stage {index}: unknown key(s) {sorted(unknown)}; valid: {sorted(_STAGE_KEYS)}")
        try:
            tasks = served_tasks(
                bundle,
                config,
                task_types=stage.get("task_types"),
                hops=stage.get("hops"),
                tiers=stage.get("tiers"),
                split=stage.get("split"),
                what=f"stage {index}",
            )
        except ValueError as error:
            message = str(error).replace("no task matches", f"{dict(stage)} selects no task:", 1)
            raise ValueError(message) from None
        keys.append([task.task_key for task in tasks])
    return keys


class StageCurriculum:
    """Stages of tasks, easiest first, promoted and demoted on the rolling success rate
    (SearchGym-RL's staged curriculum; the adaptive promotion rule is ours).

    Args:
        stage_keys: each stage's task keys.
        stages: the stage filters (reported in :meth:`info`); default: ``{"stage": i}``.
        promote_at / demote_at: move up when the success rate over the last ``window`` finished
            episodes is ``>= promote_at``, down when ``<= demote_at``; the window is cleared at
            every change and no decision is taken before it holds ``min_episodes`` outcomes.
        success_metric, success_threshold: what makes an episode a success (:func:`episode_outcome`).
        start_stage, seed: initial stage and RNG seed.
    """

    def __init__(
        self,
        stage_keys: Sequence[Sequence[str]],
        stages: Sequence[Mapping[str, Any]] | None = None,
        *,
        promote_at: float = 0.6,
        demote_at: float = 0.2,
        window: int = 50,
        min_episodes: int | None = None,
        success_metric: str = "em",
        success_threshold: float = 1.0,
        start_stage: int = 0,
        seed: int | None = None,
    ) -> None:
        self.stage_keys = [list(keys) for keys in stage_keys]
        if not self.stage_keys or any(not keys for keys in self.stage_keys):
            raise ValueError("a stage curriculum needs at least one stage, each with at least one task")
        self.stages = (
            [dict(s) for s in stages] if stages is not None else [{"stage": i} for i in range(len(self.stage_keys))]
        )
        if not 0.0 <= demote_at < promote_at <= 1.0:
            raise ValueError(f"need 0 <= demote_at < promote_at <= 1, got {demote_at}, {promote_at}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.promote_at, self.demote_at, self.window = float(promote_at), float(demote_at), int(window)
        self.min_episodes = int(min_episodes if min_episodes is not None else window)
        if not 1 <= self.min_episodes <= self.window:
            raise ValueError(f"min_episodes must be in [1, window], got {min_episodes}")
        if not 0 <= start_stage < len(self.stage_keys):
            raise ValueError(f"start_stage must be in [0, {len(self.stage_keys)}), got {start_stage}")
        self.success_metric, self.success_threshold = success_metric, float(success_threshold)
        self.stage = int(start_stage)
        self.outcomes: deque[float] = deque(maxlen=self.window)
        self.episodes = self.promotions = self.demotions = 0
        self.history: list[dict[str, Any]] = []
        self.rng: np.random.Generator | None = None if seed is None else np.random.default_rng(seed)
        self.event: str | None = None

    @classmethod
    def for_env(cls, env: Any, stages: Sequence[Mapping[str, Any]] | None = None, **options: Any) -> StageCurriculum:
        """Stages over an env's tasks (``env``: a SearchQAEnv, wrapped or not, or a vector env);
        default stages: :data:`DEFAULT_STAGES` (by hops)."""
        base = env.envs[0].unwrapped if hasattr(env, "envs") else env.unwrapped
        stages = [dict(s) for s in (stages if stages is not None else DEFAULT_STAGES)]
        if not stages:
            raise ValueError("a stage curriculum needs at least one stage")
        return cls(stage_task_keys(base.bundle, base.config, stages), stages, **options)

    @classmethod
    def by_tier(cls, env: Any, stages: Sequence[Mapping[str, Any]] = TIER_STAGES, **options: Any) -> StageCurriculum:
        """The tier curriculum: :data:`TIER_STAGES`, promoted by tier on measured success."""
        return cls.for_env(env, stages, **options)

    def seed(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    @property
    def success_rate(self) -> float | None:
        return float(np.mean(self.outcomes)) if self.outcomes else None

    def sample(self) -> str:
        if self.rng is None:
            self.rng = np.random.default_rng()
        keys = self.stage_keys[self.stage]
        return keys[int(self.rng.integers(len(keys)))]

    def observe(self, info: Mapping[str, Any]) -> str | None:
        return self.record(episode_outcome(info, self.success_metric, self.success_threshold))

    def record(self, success: bool | float) -> str | None:
        """Add one finished episode's outcome and apply the promotion rule; returns the event."""
        self.episodes += 1
        self.outcomes.append(float(success))
        self.event = None
        if len(self.outcomes) < self.min_episodes:
            return None
        rate = self.success_rate or 0.0
        if rate >= self.promote_at and self.stage < len(self.stage_keys) - 1:
            self._change(+1, "promote", rate)
        elif rate <= self.demote_at and self.stage > 0:
            self._change(-1, "demote", rate)
        return self.event

    def _change(self, delta: int, event: str, rate: float) -> None:
        self.history.append(
            {
                "episode": self.episodes,
                "from": self.stage,
                "to": self.stage + delta,
                "event": event,
                "success_rate": rate,
            }
        )
        self.stage += delta
        self.outcomes.clear()
        self.event = event
        if delta > 0:
            self.promotions += 1
        else:
            self.demotions += 1

    def info(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "num_stages": len(self.stage_keys),
            "filter": dict(self.stages[self.stage]),
            "num_tasks": len(self.stage_keys[self.stage]),
            "success_rate": self.success_rate,
            "window_count": len(self.outcomes),
            "episodes": self.episodes,
            "promotions": self.promotions,
            "demotions": self.demotions,
            "event": self.event,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "outcomes": list(self.outcomes),
            "episodes": self.episodes,
            "promotions": self.promotions,
            "demotions": self.demotions,
            "history": list(self.history),
            "rng": _rng_state(self.rng),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        stage = int(state["stage"])
        if not 0 <= stage < len(self.stage_keys):
            raise ValueError(f"saved stage {stage} is out of range for {len(self.stage_keys)} stages")
        self.stage = stage
        self.outcomes = deque((float(x) for x in state.get("outcomes", ())), maxlen=self.window)
        self.episodes = int(state.get("episodes", 0))
        self.promotions = int(state.get("promotions", 0))
        self.demotions = int(state.get("demotions", 0))
        self.history = list(state.get("history", ()))
        self.rng = _rng_from_state(state.get("rng"))


class AdaptiveCurriculum:
    """:class:`AdaptiveTaskSampler` as a :class:`TaskSampler`: draws learnable tasks, each served
    ``repeat`` times in a row (a GRPO group produced sequentially), fed by finished episodes."""

    def __init__(
        self,
        sampler: AdaptiveTaskSampler,
        *,
        repeat: int = 1,
        success_metric: str = "em",
        success_threshold: float | None = 1.0,
    ) -> None:
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        self.sampler, self.repeat = sampler, int(repeat)
        self.success_metric, self.success_threshold = success_metric, success_threshold
        self.current: str | None = None
        self.served = 0

    @classmethod
    def for_env(
        cls,
        env: Any,
        *,
        repeat: int = 1,
        success_metric: str = "em",
        success_threshold: float | None = 1.0,
        **sampler_options: Any,
    ) -> AdaptiveCurriculum:
        from searchgym.wrappers.sampler import AdaptiveTaskSampler

        base = env.envs[0].unwrapped if hasattr(env, "envs") else env.unwrapped
        keys = [task.task_key for task in base.tasks]
        return cls(
            AdaptiveTaskSampler(keys, **sampler_options),
            repeat=repeat,
            success_metric=success_metric,
            success_threshold=success_threshold,
        )

    def seed(self, seed: int | None) -> None:
        self.sampler.rng = np.random.default_rng(seed)
        self.served = 0

    def sample(self) -> str:
        if self.current is None or self.served >= self.repeat:
            self.current, self.served = self.sampler.sample(), 0
        self.served += 1
        return self.current

    def observe(self, info: Mapping[str, Any]) -> str | None:
        self.sampler.record(str(info["task_key"]), episode_outcome(info, self.success_metric, self.success_threshold))
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "current": self.current, "served": self.served}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.current = state.get("current")
        self.served = int(state.get("served", 0))
