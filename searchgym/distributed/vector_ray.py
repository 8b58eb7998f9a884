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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

__all__ = ["RaySearchQAVectorEnv"]


class _EnvHost:
    """Body of the Ray actor: one BatchedSearchQAVectorEnv of ``count`` sub-envs."""

    def __init__(self, count: int, spec: str, autoreset_mode: str, overrides: dict[str, Any]) -> None:
        from searchgym.envs.vector import BatchedSearchQAVectorEnv

        self.env = BatchedSearchQAVectorEnv(count, spec, autoreset_mode=autoreset_mode, **overrides)

    def reset(self, seed: Any, options: dict[str, Any] | None) -> tuple[tuple[str, ...], dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: list[Any]) -> tuple:
        return self.env.step(actions)

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
            self._actors.append(remote_cls.remote(stop - start, str(spec), self.autoreset_mode.value, dict(overrides)))
        self._ray = ray
        self._closed = False

    @property
    def num_actors(self) -> int:
        return len(self._actors)

    # -- helpers ------------------------------------------------------------------------------
    def _merge(self, results: Sequence[tuple[Any, ...] | None],
               with_info_index: int) -> tuple[Sequence[tuple[Any, ...] | None], dict[str, Any]]:
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
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[tuple[str, ...], dict[str, Any]]:
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
        if mask is not None and (not isinstance(mask, np.ndarray) or mask.dtype != np.bool_
                                 or mask.shape != (self.num_envs,) or not mask.any()):
            raise ValueError(f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},) "
                             "selecting at least one sub-env")
        for plural in ("task_keys", "task_indices"):
            values = options.get(plural)
            if values is not None and (isinstance(values, (str, bytes)) or len(values) != self.num_envs):
                raise ValueError(f"options[{plural!r}] must be a list of {self.num_envs} entries (None = random)")
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
        return tuple(self._observations), infos

    def step(
        self, actions: Sequence[Any]
    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        futures = [actor.step.remote(actions[part]) for part, actor in zip(self._slices, self._actors)]
        results = self._ray.get(futures)
        observations: list[str] = []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        for part, (obs, rew, term, trunc, _) in zip(self._slices, results):
            observations.extend(obs)
            rewards[part], terminations[part], truncations[part] = rew, term, trunc
        self._observations = observations
        _, infos = self._merge(results, 4)
        return tuple(observations), rewards, terminations, truncations, infos

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
