"""Curriculum wrappers: hop/type stages promoted on success (SearchGym-RL), the ZeroSearch
noise schedule, and adaptive task sampling (keep tasks with outcome variance for GRPO).

None of them changes the env: task choice goes through the public reset option
``options={"task_key": ...}`` (an explicit ``task_key``/``task_index`` passed by the caller is
respected and overrides the curriculum), and noise through the engine's ``noise_prob``.

Length (about 420 lines, formatted): the three curriculum wrappers share their task choice and
reporting; the staging rules themselves live in :mod:`searchgym.curricula`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

from searchgym.curricula import DEFAULT_STAGES, TIER_STAGES, AdaptiveCurriculum, StageCurriculum
from searchgym.envs.task_pool import served_tasks
from searchgym.search.base import controls_noise
from searchgym.search.noisy import NoisyEngine
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


def _explicit_task(options: Mapping[str, Any] | None) -> bool:
    return options is not None and ("task_key" in options or "task_index" in options)


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
    :meth:`load_state_dict` save and restore stage, window, counters and RNG. The logic is
    :class:`~searchgym.curricula.StageCurriculum` (``self.curriculum``), the same sampler the
    vector envs and the trainer adapters take.
    """

    def __init__(
        self,
        env: gym.Env,
        stages: Sequence[Mapping[str, Any]] | None = None,
        promote_at: float = 0.6,
        demote_at: float = 0.2,
        window: int = 50,
        min_episodes: int | None = None,
        success_metric: str = "em",
        success_threshold: float = 1.0,
        start_stage: int = 0,
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            stages=None if stages is None else [dict(s) for s in stages],
            promote_at=promote_at,
            demote_at=demote_at,
            window=window,
            min_episodes=min_episodes,
            success_metric=success_metric,
            success_threshold=success_threshold,
            start_stage=start_stage,
        )
        gym.Wrapper.__init__(self, env)
        if stages is not None and not stages:
            raise ValueError("HopCurriculum needs at least one stage")
        self.curriculum = StageCurriculum.for_env(
            env,
            stages,
            promote_at=promote_at,
            demote_at=demote_at,
            window=window,
            min_episodes=min_episodes,
            success_metric=success_metric,
            success_threshold=success_threshold,
            start_stage=start_stage,
        )
        self._rng_seeded = False

    # the curriculum's state, read through the wrapper as before
    stages = property(lambda self: self.curriculum.stages)
    stage_keys = property(lambda self: self.curriculum.stage_keys)
    stage = property(lambda self: self.curriculum.stage)
    outcomes = property(lambda self: self.curriculum.outcomes)
    episodes = property(lambda self: self.curriculum.episodes)
    promotions = property(lambda self: self.curriculum.promotions)
    demotions = property(lambda self: self.curriculum.demotions)
    history = property(lambda self: self.curriculum.history)
    window = property(lambda self: self.curriculum.window)
    success_rate = property(lambda self: self.curriculum.success_rate)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None or not self._rng_seeded:
            self.curriculum.seed(seed)
            self._rng_seeded = True
        self.curriculum.event = None
        if not _explicit_task(options):
            options = {**(options or {}), "task_key": self.curriculum.sample()}
        observation, info = self.env.reset(seed=seed, options=options)
        info["curriculum"] = self.curriculum.info()
        return observation, info

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.curriculum.event = None
        if terminated or truncated:
            self.curriculum.observe(info)
        info["curriculum"] = self.curriculum.info()
        return observation, reward, terminated, truncated, info

    def record(self, success: bool | float) -> str | None:
        """Add one finished episode's outcome and apply the promotion rule; returns the event.
        (Called by :meth:`step`; public so a trainer can feed outcomes it computed itself.)"""
        return self.curriculum.record(success)

    def state_dict(self) -> dict[str, Any]:
        return self.curriculum.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.curriculum.load_state_dict(state)
        self._rng_seeded = self.curriculum.rng is not None


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
    shape = fraction if math.isclose(base, 1.0) else (base**fraction - 1.0) / (base - 1.0)
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

    def __init__(
        self,
        env: gym.Env,
        p_start: float = 0.0,
        p_end: float = 0.5,
        base: float = 4.0,
        total_steps: int = 1000,
        unit: str = "episodes",
        wrap_engine: bool = True,
        noise_seed: int = 0,
        noise_mode: str = "replace",
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            p_start=p_start,
            p_end=p_end,
            base=base,
            total_steps=total_steps,
            unit=unit,
            wrap_engine=wrap_engine,
            noise_seed=noise_seed,
            noise_mode=noise_mode,
        )
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
                raise ValueError(
                    f"engine {getattr(engine, 'name', engine)!r} has no noise_prob; pass "
                    "engine=NoisyEngine(...) to the env or use wrap_engine=True"
                )
            passages = base_env.corpus.passages
            distractors = [p for p in passages if p.kind == "distractor"]
            engine = NoisyEngine(
                engine,
                distractors=distractors or None,
                corpus=None if distractors else passages,
                noise_prob=self.p_start,
                seed=noise_seed,
                mode=noise_mode,
            )
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
        info["noise"] = {
            "p": self.current_p,
            "progress": self.progress,
            "total_steps": self.total_steps,
            "unit": self.unit,
        }

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

    def __init__(
        self,
        env: gym.Env,
        window: int = 8,
        min_attempts: int = 2,
        revisit_prob: float = 0.05,
        low: float = 0.0,
        high: float = 1.0,
        repeat: int = 1,
        success_metric: str = "em",
        success_threshold: float | None = 1.0,
        split: str | None = None,
        task_types: Sequence[str] | None = None,
        hops: Sequence[int] | None = None,
        state_path: str | None = None,
        save_every: int = 50,
    ) -> None:
        RecordConstructorArgs.__init__(
            self,
            window=window,
            min_attempts=min_attempts,
            revisit_prob=revisit_prob,
            low=low,
            high=high,
            repeat=repeat,
            success_metric=success_metric,
            success_threshold=success_threshold,
            split=split,
            task_types=None if task_types is None else list(task_types),
            hops=None if hops is None else list(hops),
            state_path=state_path,
            save_every=save_every,
        )
        gym.Wrapper.__init__(self, env)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        base = cast("SearchQAEnv", self.env.unwrapped)
        if split is None and task_types is None and hops is None:
            keys = [task.task_key for task in base.tasks]
        else:
            tasks = served_tasks(
                base.bundle, base.config, task_types=task_types, hops=hops, split=split, what="AdaptiveTaskSampling"
            )
            keys = [task.task_key for task in tasks]
        self.state_path = Path(state_path) if state_path else None
        self.save_every = int(save_every)
        if self.state_path is not None and self.state_path.exists():
            sampler = AdaptiveTaskSampler.load(self.state_path)
        else:
            sampler = AdaptiveTaskSampler(
                keys, window=window, min_attempts=min_attempts, revisit_prob=revisit_prob, low=low, high=high
            )
        self.curriculum = AdaptiveCurriculum(
            sampler, repeat=repeat, success_metric=success_metric, success_threshold=success_threshold
        )
        self.repeat, self.success_metric, self.success_threshold = int(repeat), success_metric, success_threshold
        self._finished = 0

    @property
    def sampler(self) -> AdaptiveTaskSampler:
        return self.curriculum.sampler

    def _info(self, key: str | None) -> dict[str, Any]:
        return {
            "status": self.sampler.status(key) if key else None,
            "success_rate": self.sampler.success_rate(key) if key else None,
            "counts": self.sampler.counts(),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.curriculum.seed(seed)
        if not _explicit_task(options):
            options = {**(options or {}), "task_key": self.curriculum.sample()}
        observation, info = self.env.reset(seed=seed, options=options)
        info["sampler"] = self._info(info.get("task_key"))
        return observation, info

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            self.curriculum.observe(info)
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
        return self.curriculum.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.curriculum.load_state_dict(state)
