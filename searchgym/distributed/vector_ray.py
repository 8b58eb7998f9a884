"""``RaySearchQAVectorEnv``: a Gymnasium vector env whose sub-envs live in Ray actors.

Why: a single process tops out at one core for env stepping and searching; Ray actors spread
``num_envs`` sub-envs over a cluster, ``envs_per_actor`` per actor. Each actor hosts a
:class:`~searchgym.envs.vector.BatchedSearchQAVectorEnv` (its sub-envs' searches batched into
one engine call per step), so the semantics are exactly those of that vector env and of
Gymnasium's vector envs:

* observations: ``tuple[str, ...]`` of length ``num_envs``; rewards ``float64``,
  terminations / truncations ``bool`` arrays; infos in Gymnasium's vector convention (per-key
  arrays plus ``_key`` masks) with global sub-env indices;
* autoreset: ``NEXT_STEP`` by default (``SAME_STEP`` and ``DISABLED`` as in the batched env);
* ``reset(seed=s)`` seeds sub-env ``i`` with ``s + i`` wherever it lives (a list gives one seed
  each), ``options={"task_keys"|"task_indices": [...], "reset_mask": mask}`` as the batched env.

So ``RaySearchQAVectorEnv(n, ...)`` and ``BatchedSearchQAVectorEnv(n, ...)`` return identical
results for identical seeds and actions. Actors step concurrently; the driver only splits
actions and merges results.

Actors build their env from the spec id and overrides (plain data), never from a pickled env.

**Curricula** (``task_sampler=``, a :class:`~searchgym.curricula.TaskSampler`): task choice is
routed through the driver, which holds the one sampler. Before a step the driver samples a task
for every sub-env that autoresets on it (``NEXT_STEP``: those that ended on the previous step)
and sends the keys with the actions; after the step it feeds the sampler every finished
episode's info, in sub-env order; under ``SAME_STEP`` the actors run without autoreset and the
driver resets the sub-envs that ended (feed, then sample, one sub-env at a time) in one more
call to their actors. Why not a sampler actor that actors ask: actors step concurrently, so the
order in which a shared sampler saw results and handed out tasks would depend on timing; through
the driver the sampler sees exactly the sequence of :class:`BatchedSearchQAVectorEnv` with the
same sampler (same seeds and actions: same tasks, same promotions), it costs no extra round trip
under ``NEXT_STEP``, and the sampler stays an ordinary Python object the user can inspect and save.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from searchgym.envs.vector_infos import merge_infos

__all__ = ["RaySearchQAVectorEnv"]


class _DriverTasks:
    """An actor-side sampler that serves the task keys the driver sampled, in sub-env order."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def sample(self) -> str:
        return self.keys.pop(0)

    def observe(self, info: Any) -> None:  # the driver's sampler is fed, not this one
        return None


class _EnvHost:
    """Body of the Ray actor: one BatchedSearchQAVectorEnv of ``count`` sub-envs."""

    def __init__(self, count: int, spec: str, autoreset_mode: str, overrides: dict[str, Any]) -> None:
        from searchgym.envs.vector import BatchedSearchQAVectorEnv

        self.env = BatchedSearchQAVectorEnv(count, spec, autoreset_mode=autoreset_mode, **overrides)
        self.tasks = _DriverTasks()

    def reset(self, seed: Any, options: dict[str, Any] | None) -> tuple[tuple[str, ...], dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: list[Any], reset_keys: list[str] | None = None) -> tuple:
        """One step; ``reset_keys``: the tasks of this step's autoresets, in sub-env order."""
        self.env.task_sampler = self.tasks if reset_keys else None
        self.tasks.keys = list(reset_keys or [])
        try:
            return self.env.step(actions)
        finally:
            self.env.task_sampler = None

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def _split_info(info: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """A vector info dict (arrays + ``_key`` masks) back into ``count`` per-sub-env dicts."""
    per_env: list[dict[str, Any]] = [{} for _ in range(count)]
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get(f"_{key}")
        if isinstance(value, dict):
            nested = _split_info(value, count)
            for j in range(count):
                if mask is None or mask[j]:
                    per_env[j][key] = nested[j]
            continue
        for j in range(count):
            if mask is None or mask[j]:
                per_env[j][key] = value[j]
    return per_env


class RaySearchQAVectorEnv(VectorEnv):
    """``num_envs`` :class:`SearchQAEnv` sub-envs hosted by Ray actors.

    Args:
        num_envs: total sub-envs (>= 1).
        spec: env id or spec path.
        envs_per_actor: sub-envs per actor (the last actor may hold fewer).
        autoreset_mode: Gymnasium autoreset mode (default ``NEXT_STEP``).
        actor_options: ``ray.remote`` options for each actor (default ``{"num_cpus": 1}``).
        task_sampler: a curriculum that picks the task of every reset and autoreset not given
            one and is fed every finished episode, through the driver (see the module doc).
        **overrides: :class:`~searchgym.envs.config.EnvConfig` fields.

    Ray must be importable; ``ray.init()`` is called with defaults when it is not initialised.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int,
        spec: str = "SearchQA-v0",
        *,
        envs_per_actor: int = 4,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        actor_options: dict[str, Any] | None = None,
        task_sampler: Any = None,
        **overrides: Any,
    ) -> None:
        import ray

        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if envs_per_actor < 1:
            raise ValueError(f"envs_per_actor must be >= 1, got {envs_per_actor}")
        if not ray.is_initialized():
            ray.init()
        self.num_envs = num_envs
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        # Under SAME_STEP with a sampler the driver resets ended sub-envs itself (module doc).
        self._driver_resets = task_sampler is not None and self.autoreset_mode == AutoresetMode.SAME_STEP
        self.task_sampler = task_sampler
        actor_mode = AutoresetMode.DISABLED if self._driver_resets else self.autoreset_mode
        self._pending_autoreset = np.zeros(num_envs, dtype=np.bool_)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        # Validate the spec and overrides here, in the driver, with a readable error.
        from searchgym.envs.config import load_spec

        config = load_spec(spec)
        config = config.with_overrides(overrides) if overrides else config
        self.config = config
        self.single_observation_space = _text_space(config)
        self.single_action_space = _text_space(config, action=True)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        remote_cls = ray.remote(**(actor_options or {"num_cpus": 1}))(_EnvHost)
        self._slices: list[slice] = []
        # Any: Ray's ActorHandle generics do not type the ``.remote`` of an actor's methods
        self._actors: list[Any] = []
        for start in range(0, num_envs, envs_per_actor):
            stop = min(num_envs, start + envs_per_actor)
            self._slices.append(slice(start, stop))
            self._actors.append(remote_cls.remote(stop - start, str(spec), actor_mode.value, dict(overrides)))
        self._ray = ray
        self._closed = False

    @property
    def task_sampler(self) -> Any:
        """The curriculum the driver samples tasks from and feeds (``None``: the sub-envs' own RNGs)."""
        return self._task_sampler

    @task_sampler.setter
    def task_sampler(self, sampler: Any) -> None:
        if sampler is not None and self.autoreset_mode == AutoresetMode.SAME_STEP and not self._driver_resets:
            raise ValueError(
                "under SAME_STEP autoreset the driver resets the sub-envs of a curriculum itself: "
                "pass task_sampler= when constructing RaySearchQAVectorEnv"
            )
        self._task_sampler = sampler

    @property
    def num_actors(self) -> int:
        return len(self._actors)

    # -- helpers ------------------------------------------------------------------------------
    def _merge(
        self, results: Sequence[tuple[Any, ...] | None], with_info_index: int
    ) -> tuple[Sequence[tuple[Any, ...] | None], dict[str, Any]]:
        infos: dict[str, Any] = {}
        for part, result in zip(self._slices, results):
            if result is None:
                continue
            count = part.stop - part.start
            for j, env_info in enumerate(_split_info(result[with_info_index], count)):
                if env_info:
                    infos = self._add_info(infos, env_info, part.start + j)
        return results, infos

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[tuple[str, ...], dict[str, Any]]:
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(self.num_envs)]
            super().reset(seed=int(seed))
        elif isinstance(seed, bool):
            raise TypeError(f"seed must be an int or a sequence of {self.num_envs} seeds, not a bool")
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for num_envs={self.num_envs}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is not None and (
            not isinstance(mask, np.ndarray)
            or mask.dtype != np.bool_
            or mask.shape != (self.num_envs,)
            or not mask.any()
        ):
            raise ValueError(
                f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},) "
                "selecting at least one sub-env"
            )
        for plural in ("task_keys", "task_indices"):
            values = options.get(plural)
            if values is not None and (isinstance(values, (str, bytes)) or len(values) != self.num_envs):
                raise ValueError(f"options[{plural!r}] must be a list of {self.num_envs} entries (None = random)")
        if self.task_sampler is not None:
            if seed is not None and hasattr(self.task_sampler, "seed"):
                self.task_sampler.seed(seeds[0])
            options = self._sampled_reset_options(options, mask)
        futures: list[Any] = []  # Ray object refs (None: a sub-env group left alone)
        for part, actor in zip(self._slices, self._actors):
            if mask is not None and not mask[part].any():
                futures.append(None)
                continue
            local = {k: (list(v[part]) if k in ("task_keys", "task_indices") else v) for k, v in options.items()}
            if mask is not None:
                local["reset_mask"] = mask[part].copy()
            local_seed = seeds[part] if any(s is not None for s in seeds[part]) else None
            futures.append(actor.reset.remote(local_seed, local or None))
        results = [None if f is None else self._ray.get(f) for f in futures]
        if not hasattr(self, "_observations"):
            self._observations = [""] * self.num_envs
        for part, result in zip(self._slices, results):
            if result is not None:
                self._observations[part] = list(result[0])
        _, infos = self._merge(results, 1)
        reset = np.ones(self.num_envs, dtype=np.bool_) if mask is None else mask
        self._pending_autoreset[reset] = False
        return tuple(self._observations), infos

    def _sampled_reset_options(self, options: dict[str, Any], mask: np.ndarray | None) -> dict[str, Any]:
        """``task_keys`` filled from the sampler for every reset sub-env given no task, in order."""
        keys = list(options.get("task_keys") or [None] * self.num_envs)
        indices = list(options.get("task_indices") or [None] * self.num_envs)
        for i in range(self.num_envs):
            if (mask is None or mask[i]) and keys[i] is None and indices[i] is None:
                keys[i] = self.task_sampler.sample()
        return {**options, "task_keys": keys}

    def step(
        self, actions: Sequence[Any]
    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        sampler = self.task_sampler
        reset_keys: list[list[str] | None] = [None] * len(self._actors)
        if sampler is not None and self.autoreset_mode == AutoresetMode.NEXT_STEP:
            for a, part in enumerate(self._slices):
                ending = np.flatnonzero(self._pending_autoreset[part])
                reset_keys[a] = [sampler.sample() for _ in ending] or None
        futures = [
            actor.step.remote(actions[part], keys) for part, actor, keys in zip(self._slices, self._actors, reset_keys)
        ]
        results = self._ray.get(futures)
        observations: list[str] = []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        for part, (obs, rew, term, trunc, _) in zip(self._slices, results):
            observations.extend(obs)
            rewards[part], terminations[part], truncations[part] = rew, term, trunc
        done = np.logical_or(terminations, truncations)
        self._pending_autoreset = done if self.autoreset_mode != AutoresetMode.SAME_STEP else np.zeros_like(done)
        if sampler is None:
            self._observations = observations
            _, infos = self._merge(results, 4)
            return tuple(observations), rewards, terminations, truncations, infos
        per_env = self._per_env_infos(results, 4)
        if not self._driver_resets:
            for ended in np.flatnonzero(done):
                sampler.observe(per_env[int(ended)])
        else:
            observations, per_env = self._reset_ended(observations, per_env, done)
        self._observations = observations
        merged = merge_infos(self.num_envs, [(index, info) for index, info in enumerate(per_env) if info])
        return tuple(observations), rewards, terminations, truncations, merged

    def _per_env_infos(self, results: Sequence[tuple[Any, ...]], index: int) -> list[dict[str, Any]]:
        per_env: list[dict[str, Any]] = []
        for part, result in zip(self._slices, results):
            per_env.extend(_split_info(result[index], part.stop - part.start))
        return per_env

    def _reset_ended(
        self, observations: list[str], per_env: list[dict[str, Any]], done: np.ndarray
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """SAME_STEP through the driver: feed and resample each ended sub-env, reset them in one
        call per actor, and report ``final_obs`` / ``final_info`` as the batched env does."""
        keys: list[str | None] = [None] * self.num_envs
        for ended in np.flatnonzero(done):
            self.task_sampler.observe(per_env[int(ended)])
            keys[int(ended)] = self.task_sampler.sample()
        futures = [
            actor.reset.remote(None, {"reset_mask": done[part].copy(), "task_keys": keys[part]})
            if done[part].any()
            else None
            for part, actor in zip(self._slices, self._actors)
        ]
        merged = [dict(info) for info in per_env]
        for part, future in zip(self._slices, futures):
            if future is None:
                continue
            obs, info = self._ray.get(future)
            for j, reset_info in enumerate(_split_info(info, part.stop - part.start)):
                i = part.start + j
                if done[i]:
                    merged[i] = {"final_obs": observations[i], "final_info": per_env[i], **reset_info}
                    observations[i] = obs[j]
        return observations, merged

    def render(self) -> tuple[Any, ...] | None:
        parts = self._ray.get([actor.render.remote() for actor in self._actors])
        if all(p is None for p in parts):
            return None
        return tuple(item for part in parts for item in (part or ()))

    def close_extras(self, **kwargs: Any) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for actor in self._actors:
            try:
                self._ray.get(actor.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - the actor may already be gone
                pass
            self._ray.kill(actor)
        self._actors = []


def _text_space(config: Any, action: bool = False) -> Any:
    from searchgym.envs.search_qa import MAX_OBSERVATION_CHARS
    from searchgym.envs.spaces import AnyText

    return AnyText(max_length=config.max_action_chars if action else MAX_OBSERVATION_CHARS)
