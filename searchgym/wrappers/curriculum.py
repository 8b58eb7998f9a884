"""Curriculum wrappers: hop/type stages promoted on success (SearchGym-RL), the ZeroSearch
noise schedule, and adaptive task sampling (keep tasks with outcome variance for GRPO).

None of them changes the env: task choice goes through the public reset option
``options={"task_key": ...}`` (an explicit ``task_key``/``task_index`` passed by the caller is
respected and overrides the curriculum), and noise through the engine's ``noise_prob``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np
from gymnasium.utils import RecordConstructorArgs

from searchgym.search.base import controls_noise
from searchgym.search.noisy import NoisyEngine
from searchgym.tasks.tiers import tier_of
from searchgym.wrappers.sampler import AdaptiveTaskSampler

if TYPE_CHECKING:
    from searchgym.envs.search_qa import SearchQAEnv

__all__ = [
    "AdaptiveTaskSampling",
    "DEFAULT_STAGES",
    "TIER_STAGES",
    "HopCurriculum",
    "NoiseSchedule",
    "noise_probability",
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


def _explicit_task(options: Mapping[str, Any] | None) -> bool:
    return options is not None and ("task_key" in options or "task_index" in options)


def _success(info: Mapping[str, Any], metric: str, threshold: float) -> bool:
    return float(info.get(metric) or 0.0) >= threshold


def _rng_state(rng: np.random.Generator | None) -> dict[str, Any] | None:
    return None if rng is None else dict(rng.bit_generator.state)


def _rng_from_state(state: dict[str, Any] | None) -> np.random.Generator | None:
    if state is None:
        return None
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


class HopCurriculum(gym.Wrapper, RecordConstructorArgs):
    """Stage curriculum over task difficulty, promoted and demoted on the rolling success rate
    (SearchGym-RL's staged curriculum, SearchGym §1.4 of the field notes: simple search/access
    tasks first, then multi-hop long-horizon ones; the adaptive promotion rule is ours).

    Args:
        stages: a list of filters, easiest first; each may set ``hops`` (list of hop counts),
            ``task_types`` (list of types; default: the env config's) and ``split`` (only the
            env config's: each split is its own world) and ``tiers`` (difficulty tiers 1-5, see
            :data:`TIER_STAGES`). Each stage's tasks are
            ``env.unwrapped.bundle.tasks.select(split, task_types, hops)`` of those tiers; an
            empty stage is an error at construction.
        promote_at: move to the next stage when the success rate over the last ``window``
            finished episodes is ``>= promote_at``.
        demote_at: move back one stage when it is ``<= demote_at``.
        window: episodes in the rolling window; the window is cleared at every stage change and
            no decision is taken before it holds ``min_episodes`` (default ``window``) outcomes.
        success_metric, success_threshold: an episode succeeds when
            ``info[success_metric] >= success_threshold`` on its last step (default: EM = 1).
        start_stage: initial stage index.

    Each reset picks a task of the current stage uniformly with the wrapper's own RNG (seeded by
    ``reset(seed=...)``) and passes it as ``options["task_key"]``. ``info["curriculum"]`` (reset
    and step) holds the stage, its filter, the rolling success rate and, on the step where a
    change happened, ``event`` = ``"promote"``/``"demote"``. :meth:`state_dict` /
    :meth:`load_state_dict` save and restore stage, window, counters and RNG.
    """

    def __init__(self, env: gym.Env, stages: Sequence[Mapping[str, Any]] | None = None, promote_at: float = 0.6,
                 demote_at: float = 0.2, window: int = 50, min_episodes: int | None = None,
                 success_metric: str = "em", success_threshold: float = 1.0, start_stage: int = 0) -> None:
        RecordConstructorArgs.__init__(
            self, stages=None if stages is None else [dict(s) for s in stages], promote_at=promote_at,
            demote_at=demote_at, window=window, min_episodes=min_episodes, success_metric=success_metric,
            success_threshold=success_threshold, start_stage=start_stage)
        gym.Wrapper.__init__(self, env)
        self.stages = [dict(s) for s in (stages if stages is not None else DEFAULT_STAGES)]
        if not self.stages:
            raise ValueError("HopCurriculum needs at least one stage")
        if not 0.0 <= demote_at < promote_at <= 1.0:
            raise ValueError(f"need 0 <= demote_at < promote_at <= 1, got {demote_at}, {promote_at}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.promote_at = float(promote_at)
        self.demote_at = float(demote_at)
        self.window = int(window)
        self.min_episodes = int(min_episodes if min_episodes is not None else window)
        if not 1 <= self.min_episodes <= self.window:
            raise ValueError(f"min_episodes must be in [1, window], got {min_episodes}")
        self.success_metric = success_metric
        self.success_threshold = float(success_threshold)
        if not 0 <= start_stage < len(self.stages):
            raise ValueError(f"start_stage must be in [0, {len(self.stages)}), got {start_stage}")
        self.stage_keys = [self._stage_keys(i, stage) for i, stage in enumerate(self.stages)]
        self.stage = int(start_stage)
        self.outcomes: deque[float] = deque(maxlen=self.window)
        self.episodes = 0
        self.promotions = 0
        self.demotions = 0
        self.history: list[dict[str, Any]] = []
        self._rng: np.random.Generator | None = None
        self._event: str | None = None

    def _stage_keys(self, index: int, stage: Mapping[str, Any]) -> list[str]:
        unknown = set(stage) - _STAGE_KEYS
        if unknown:
            raise ValueError(f"stage {index}: unknown key(s) {sorted(unknown)}; valid: {sorted(_STAGE_KEYS)}")
        base = cast("SearchQAEnv", self.env.unwrapped)
        config = base.config
        split = stage.get("split", config.split)
        if split != config.split:  # each split is its own world: another split's tasks are not here
            raise ValueError(f"stage {index}: split {split!r} is not this env's split {config.split!r}; "
                             f"a split is its own world, so make an env of that split instead")
        types = stage.get("task_types") or config.task_types
        hops = stage.get("hops") or None
        tasks = base.bundle.tasks.select(split, tuple(types) if types else None, tuple(hops) if hops else None)
        tiers = stage.get("tiers")
        if tiers:
            tasks = [task for task in tasks if tier_of(task) in set(tiers)]
        if not tasks:
            raise ValueError(f"stage {index} {dict(stage)} selects no task (split={split!r}, "
                             f"task_types={types}, hops={hops}, tiers={tiers}); widen it or build a larger world")
        return [task.task_key for task in tasks]

    @property
    def success_rate(self) -> float | None:
        return float(np.mean(self.outcomes)) if self.outcomes else None

    def _info(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "num_stages": len(self.stages),
            "filter": dict(self.stages[self.stage]),
            "num_tasks": len(self.stage_keys[self.stage]),
            "success_rate": self.success_rate,
            "window_count": len(self.outcomes),
            "episodes": self.episodes,
            "promotions": self.promotions,
            "demotions": self.demotions,
            "event": self._event,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._event = None
        if not _explicit_task(options):
            keys = self.stage_keys[self.stage]
            options = {**(options or {}), "task_key": keys[int(self._rng.integers(len(keys)))]}
        observation, info = self.env.reset(seed=seed, options=options)
        info["curriculum"] = self._info()
        return observation, info

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._event = None
        if terminated or truncated:
            self.record(_success(info, self.success_metric, self.success_threshold))
        info["curriculum"] = self._info()
        return observation, reward, terminated, truncated, info

    def record(self, success: bool | float) -> str | None:
        """Add one finished episode's outcome and apply the promotion rule; returns the event.
        (Called by :meth:`step`; public so a trainer can feed outcomes it computed itself.)"""
        self.episodes += 1
        self.outcomes.append(float(success))
        self._event = None
        if len(self.outcomes) < self.min_episodes:
            return None
        rate = self.success_rate or 0.0
        if rate >= self.promote_at and self.stage < len(self.stages) - 1:
            self._change(+1, "promote", rate)
        elif rate <= self.demote_at and self.stage > 0:
            self._change(-1, "demote", rate)
        return self._event

    def _change(self, delta: int, event: str, rate: float) -> None:
        self.history.append({"episode": self.episodes, "from": self.stage, "to": self.stage + delta,
                             "event": event, "success_rate": rate})
        self.stage += delta
        self.outcomes.clear()
        self._event = event
        if delta > 0:
            self.promotions += 1
        else:
            self.demotions += 1

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "outcomes": list(self.outcomes), "episodes": self.episodes,
                "promotions": self.promotions, "demotions": self.demotions, "history": list(self.history),
                "rng": _rng_state(self._rng)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        stage = int(state["stage"])
        if not 0 <= stage < len(self.stages):
            raise ValueError(f"saved stage {stage} is out of range for {len(self.stages)} stages")
        self.stage = stage
        self.outcomes = deque((float(x) for x in state.get("outcomes", ())), maxlen=self.window)
        self.episodes = int(state.get("episodes", 0))
        self.promotions = int(state.get("promotions", 0))
        self.demotions = int(state.get("demotions", 0))
        self.history = list(state.get("history", ()))
        self._rng = _rng_from_state(state.get("rng"))


# --------------------------------------------------------------------------- noise schedule


def noise_probability(i: float, p_start: float, p_end: float, base: float = 4.0, total_steps: float = 1.0) -> float:
    """ZeroSearch's curriculum: ``p_i = p_s + (b^{i/m} - 1) / (b - 1) * (p_e - p_s)``, with
    ``i`` clamped to ``[0, m]`` (the code clamps to ``p_e`` once ``i >= m``). ``base == 1`` is
    the linear limit."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")
    if base <= 0:
        raise ValueError(f"base must be > 0, got {base}")
    fraction = min(max(float(i) / float(total_steps), 0.0), 1.0)
    shape = fraction if math.isclose(base, 1.0) else (base ** fraction - 1.0) / (base - 1.0)
    return float(p_start + shape * (p_end - p_start))


class NoiseSchedule(gym.Wrapper, RecordConstructorArgs):
    """ZeroSearch's noise curriculum (arXiv 2505.04588, ``dynamic_threshold``): the probability
    that a search returns irrelevant documents rises from ``p_start`` to ``p_end`` as
    ``p_i = p_s + (b^{i/m} - 1)/(b - 1) * (p_e - p_s)`` (slowly early, fast late), ``b = base``,
    ``m = total_steps``.

    Counting (``unit``): ZeroSearch counts *training steps* and keeps ``p`` fixed within a
    rollout. The default ``unit="episodes"`` is the env-side equivalent: ``i`` is the number of
    resets before this one, and the episode keeps that ``p`` throughout. ``unit="steps"``
    counts env steps instead (``p`` changes within episodes). ``unit="manual"`` disables
    automatic counting: the trainer calls :meth:`set_progress` with its optimizer step, which is
    exactly ZeroSearch's behaviour.

    Engine: any engine with a ``noise_prob`` attribute (e.g. :class:`NoisyEngine` passed as
    ``SearchQAEnv(engine=...)``). If the env's engine has none and ``wrap_engine`` is True
    (default), the wrapper wraps it in a :class:`NoisyEngine` (``noise_mode``, ``noise_seed``;
    noise pool = the corpus's distractor passages when there are any, else the corpus) and sets
    it as this env's engine; the shared engine other envs use is untouched.

    ``info["noise_prob"]`` is the current ``p`` (reset and step); ``info["noise"]`` adds the
    counter. :meth:`state_dict` / :meth:`load_state_dict` save the counter.
    """

    def __init__(self, env: gym.Env, p_start: float = 0.0, p_end: float = 0.5, base: float = 4.0,
                 total_steps: int = 1000, unit: str = "episodes", wrap_engine: bool = True,
                 noise_seed: int = 0, noise_mode: str = "replace") -> None:
        RecordConstructorArgs.__init__(self, p_start=p_start, p_end=p_end, base=base, total_steps=total_steps,
                                       unit=unit, wrap_engine=wrap_engine, noise_seed=noise_seed,
                                       noise_mode=noise_mode)
        gym.Wrapper.__init__(self, env)
        if unit not in ("episodes", "steps", "manual"):
            raise ValueError(f"unit must be 'episodes', 'steps' or 'manual', got {unit!r}")
        for name, p in (("p_start", p_start), ("p_end", p_end)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        noise_probability(0, p_start, p_end, base, total_steps)  # validates base / total_steps
        self.p_start, self.p_end, self.base = float(p_start), float(p_end), float(base)
        self.total_steps = int(total_steps)
        self.unit = unit
        self.progress = 0
        base_env = cast("SearchQAEnv", self.env.unwrapped)
        engine = base_env.engine
        if not controls_noise(engine):
            if not wrap_engine:
                raise ValueError(f"engine {getattr(engine, 'name', engine)!r} has no noise_prob; pass "
                                 "engine=NoisyEngine(...) to the env or use wrap_engine=True")
            passages = base_env.corpus.passages
            distractors = [p for p in passages if p.kind == "distractor"]
            engine = NoisyEngine(engine, distractors=distractors or None, corpus=None if distractors else passages,
                                 noise_prob=self.p_start, seed=noise_seed, mode=noise_mode)
            base_env.engine = engine
        self.current_p = self.value(0)

    @property
    def engine(self) -> Any:
        """The engine whose ``noise_prob`` this schedule drives: always the env's own (read, not
        stored, so a pickled or deep-copied stack drives its copy's engine)."""
        return cast("SearchQAEnv", self.env.unwrapped).engine

    def value(self, i: float) -> float:
        """The scheduled probability at progress ``i``."""
        return noise_probability(i, self.p_start, self.p_end, self.base, self.total_steps)

    def set_progress(self, i: int) -> float:
        """Jump to progress ``i`` (e.g. the trainer's optimizer step); applies and returns ``p``."""
        self.progress = int(i)
        return self._apply()

    def _apply(self) -> float:
        self.current_p = self.value(self.progress)
        self.engine.noise_prob = self.current_p
        return self.current_p

    def _info(self, info: dict[str, Any]) -> None:
        info["noise_prob"] = self.current_p
        info["noise"] = {"p": self.current_p, "progress": self.progress, "total_steps": self.total_steps,
                         "unit": self.unit}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._apply()
        observation, info = self.env.reset(seed=seed, options=options)
        self._info(info)
        if self.unit == "episodes":
            self.progress += 1
        return observation, info

    def step(self, action: Any):
        if self.unit == "steps":
            self._apply()
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._info(info)
        if self.unit == "steps":
            self.progress += 1
        return observation, reward, terminated, truncated, info

    def state_dict(self) -> dict[str, Any]:
        return {"progress": self.progress}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.progress = int(state["progress"])
        self._apply()


# --------------------------------------------------------------------------- adaptive sampling


class AdaptiveTaskSampling(gym.Wrapper, RecordConstructorArgs):
    """Draw each episode's task from an :class:`AdaptiveTaskSampler` (tasks whose success rate
    is neither 0 nor 1, so a GRPO group has reward variance; cf. DAPO's dynamic sampling, which
    filters such groups after rollout instead).

    Args:
        window, min_attempts, revisit_prob, low, high: see :class:`AdaptiveTaskSampler`.
        repeat: serve each drawn task this many resets in a row (set it to the GRPO group size
            when one env produces a whole group sequentially).
        success_metric: info key read on an episode's last step; with ``success_threshold``
            the outcome is ``1.0`` if ``info[metric] >= threshold`` else ``0.0``, with
            ``None`` the raw value (e.g. F1) is recorded.
        split, task_types, hops: restrict the task pool (default: the env's own task list).
        state_path: JSON file to resume from (if it exists) and save to every ``save_every``
            finished episodes (and on :meth:`save`).

    ``info["sampler"]`` holds the task's status and success rate and the pool counts.
    """

    def __init__(self, env: gym.Env, window: int = 8, min_attempts: int = 2, revisit_prob: float = 0.05,
                 low: float = 0.0, high: float = 1.0, repeat: int = 1, success_metric: str = "em",
                 success_threshold: float | None = 1.0, split: str | None = None,
                 task_types: Sequence[str] | None = None, hops: Sequence[int] | None = None,
                 state_path: str | None = None, save_every: int = 50) -> None:
        RecordConstructorArgs.__init__(
            self, window=window, min_attempts=min_attempts, revisit_prob=revisit_prob, low=low, high=high,
            repeat=repeat, success_metric=success_metric, success_threshold=success_threshold, split=split,
            task_types=None if task_types is None else list(task_types),
            hops=None if hops is None else list(hops), state_path=state_path, save_every=save_every)
        gym.Wrapper.__init__(self, env)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        base = cast("SearchQAEnv", self.env.unwrapped)
        if split is None and task_types is None and hops is None:
            keys = [task.task_key for task in base.tasks]
        else:
            wanted_split = base.config.split if split is None else split
            if wanted_split != base.config.split:
                raise ValueError(f"AdaptiveTaskSampling: split {wanted_split!r} is not the env's split "
                                 f"{base.config.split!r} (each split is its own world)")
            tasks = base.bundle.tasks.select(wanted_split,
                                             tuple(task_types) if task_types else base.config.task_types,
                                             tuple(hops) if hops else None)
            keys = [task.task_key for task in tasks]
        if not keys:
            raise ValueError("AdaptiveTaskSampling: no task matches the filters")
        self.repeat = int(repeat)
        self.success_metric = success_metric
        self.success_threshold = success_threshold
        self.state_path = Path(state_path) if state_path else None
        self.save_every = int(save_every)
        if self.state_path is not None and self.state_path.exists():
            self.sampler = AdaptiveTaskSampler.load(self.state_path)
        else:
            self.sampler = AdaptiveTaskSampler(keys, window=window, min_attempts=min_attempts,
                                               revisit_prob=revisit_prob, low=low, high=high)
        self._current: str | None = None
        self._served = 0
        self._finished = 0

    def _info(self, key: str | None) -> dict[str, Any]:
        return {"status": self.sampler.status(key) if key else None,
                "success_rate": self.sampler.success_rate(key) if key else None,
                "counts": self.sampler.counts()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.sampler.rng = np.random.default_rng(seed)
            self._served = 0
        if not _explicit_task(options):
            if self._current is None or self._served >= self.repeat:
                self._current = self.sampler.sample()
                self._served = 0
            self._served += 1
            options = {**(options or {}), "task_key": self._current}
        observation, info = self.env.reset(seed=seed, options=options)
        info["sampler"] = self._info(info.get("task_key"))
        return observation, info

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            value = float(info.get(self.success_metric) or 0.0)
            if self.success_threshold is not None:
                value = float(value >= self.success_threshold)
            self.sampler.record(info["task_key"], min(max(value, 0.0), 1.0))
            self._finished += 1
            if self.state_path is not None and self.save_every > 0 and self._finished % self.save_every == 0:
                self.sampler.save(self.state_path)
        info["sampler"] = self._info(info.get("task_key"))
        return observation, reward, terminated, truncated, info

    def save(self, path: str | None = None) -> None:
        target = Path(path) if path else self.state_path
        if target is None:
            raise ValueError("no path: pass one or construct the wrapper with state_path=")
        self.sampler.save(target)

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "current": self._current, "served": self._served}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self._current = state.get("current")
        self._served = int(state.get("served", 0))
