"""A vector env that answers the searches of all its sub-envs with ONE engine call per step.

Why: in RL rollouts the search engine dominates env time, and every searchgym backend (bm25s,
faiss + a bi-encoder, a remote server) is much cheaper per query on a batch than on a loop of
single-query calls. :class:`~gymnasium.vector.SyncVectorEnv` steps its sub-envs one by one, so
it issues one engine call per searching sub-env; :class:`BatchedSearchQAVectorEnv` parses all
actions first, sends every query of every sub-env in one ``engine.search(queries, top_k)`` call,
then finishes each sub-env's step with :meth:`SearchQAEnv.finish_turn` (the sub-envs are shells
over :class:`~searchgym.envs.episode.Episode`, which does the parsing, rendering and scoring). Identical queries of one
step (the members of a GRPO group often open with the same search) are sent once and their hits
handed to each sub-env. Everything else (action
parsing, rewards, infos, turn budget) is the sub-env's own code, so results are identical to
stepping the sub-envs one at a time.

Construct it with Gymnasium or directly::

    envs = gym.make_vec("SearchQA-v0", num_envs=16, vectorization_mode="vector_entry_point",
                        world_size=300)
    envs = BatchedSearchQAVectorEnv(16, spec="SearchQA-v0", world_size=300)

Batched types (the same as ``SyncVectorEnv`` gives for a ``Text`` space, so the two are
interchangeable):

* observations: a ``tuple[str, ...]`` of length ``num_envs`` (``observation_space`` is
  ``batch_space(AnyText)``, i.e. a ``Tuple`` of ``AnyText``);
* actions: any length-``num_envs`` sequence (tuple, list, object array) of strings or
  tool-call mappings;
* rewards ``float64``, terminations / truncations ``bool`` arrays of shape ``(num_envs,)``;
* infos: Gymnasium's vector convention, a dict of per-key arrays plus ``_key`` boolean masks
  saying which sub-envs set the key (exactly what :meth:`VectorEnv._add_info` builds).

Autoreset (``metadata["autoreset_mode"]``, default :attr:`AutoresetMode.NEXT_STEP`, the
Gymnasium default):

* ``NEXT_STEP``: when sub-env ``i`` terminates or truncates at step ``t``, step ``t`` returns its
  final observation, reward and flags as usual. At step ``t+1`` its action is ignored (not even
  parsed), the sub-env is reset with no seed and no options (so its own RNG, seeded by the last
  ``reset(seed=...)``, picks the next task), and it returns the reset prompt, reward ``0.0``,
  ``terminated=False``, ``truncated=False`` and the *reset* info (``question``, ``messages``,
  ``tools`` ...; the step-only keys such as ``action_kind`` are masked out for it).
* ``SAME_STEP``: the final observation and info go to ``info["final_obs"]`` /
  ``info["final_info"]`` and the reset prompt is returned in the same step.
* ``DISABLED``: stepping a finished sub-env raises; reset it with
  ``reset(options={"reset_mask": mask})``.

Seeding and options: ``reset(seed=s)`` seeds sub-env ``i`` with ``s + i`` (a list gives one seed
per sub-env); ``options={"task_keys": [...]}`` / ``{"task_indices": [...]}`` pick each sub-env's
task (``None`` entries draw a random one); any other option is passed unchanged to every sub-env;
``options={"reset_mask": bool array}`` resets only the masked sub-envs.

A :class:`~searchgym.search.base.SearchError` from the batched call fails the search of every
sub-env that searched this step (each gets the usual error observation), whereas a sub-env
stepped alone would fail only its own search: the batch is one request to the backend. Any other
exception from the engine is retried sub-env by sub-env, so it fails only the searches that
cause it. Nothing an agent sends and nothing an engine raises makes ``step`` raise: the other
sub-envs' steps are never lost (and in Gymnasium's ``AsyncVectorEnv`` no worker dies).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from searchgym.envs.config import EnvConfig
from searchgym.envs.episode import Turn, search_episodes
from searchgym.envs.search_qa import SearchQAEnv
from searchgym.envs.vector_infos import merge_infos
from searchgym.search.base import SearchEngine, SearchError
from searchgym.types import Hit

__all__ = ["BatchedSearchQAVectorEnv"]

logger = logging.getLogger(__name__)

_PER_ENV_OPTIONS = {"task_keys": "task_key", "task_indices": "task_index"}


class BatchedSearchQAVectorEnv(VectorEnv):
    """``num_envs`` :class:`SearchQAEnv` sub-envs sharing one engine, searched in one batch.

    Args:
        num_envs: number of sub-envs (at least 1).
        spec: env id, spec TOML path or :class:`EnvConfig`, as for :class:`SearchQAEnv`.
        render_mode: ``"ansi"`` or ``None``; ``render()`` returns one transcript per sub-env.
        engine: a search engine to share instead of the spec's (e.g. a remote or instrumented one).
        autoreset_mode: see the module doc; an :class:`AutoresetMode` or its string value.
        max_episode_steps: Gymnasium's name for the turn budget; when given it overrides
            ``max_turns`` (``gym.make_vec`` passes it only if the registered spec sets it).
        task_sampler: a curriculum (:class:`~searchgym.curricula.TaskSampler`: ``sample()`` /
            ``observe(info)``) that picks the task of every reset and autoreset not given one
            explicitly, and is fed the last info of every finished episode.
        **overrides: any :class:`EnvConfig` field, applied to every sub-env.

    Attributes:
        envs: the sub-envs (tuple), e.g. ``envs.envs[i].task`` for oracle wrappers.
        engine: the one engine every sub-env uses.
        engine_calls: how many ``engine.search`` calls this vector env has made.
        unique_queries: how many queries those calls carried (identical queries of one step,
            in the same episode context for context-dependent engines, are sent once).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        spec: str | Path | EnvConfig = "SearchQA-v0",
        *,
        render_mode: str | None = None,
        engine: SearchEngine | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        task_sampler: Any = None,
        **overrides: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi' for a vector env, got {render_mode!r}")
        if max_episode_steps is not None:
            overrides.setdefault("max_turns", max_episode_steps)
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.num_envs = num_envs
        self.render_mode = render_mode
        first = SearchQAEnv(spec, render_mode=render_mode, engine=engine, **overrides)
        self.engine: SearchEngine = first.engine
        rest = [SearchQAEnv(first.config, render_mode=render_mode, engine=self.engine) for _ in range(num_envs - 1)]
        self.envs: tuple[SearchQAEnv, ...] = (first, *rest)
        self.config: EnvConfig = first.config
        self.top_k = first.config.top_k
        self.engine_calls = 0
        self.unique_queries = 0
        self.task_sampler = task_sampler

        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        self._observations: list[str] = [""] * num_envs
        self._autoreset_envs = np.zeros(num_envs, dtype=np.bool_)
        self._was_reset = np.zeros(num_envs, dtype=np.bool_)

    # -- reset ----------------------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[tuple[str, ...], dict[str, Any]]:
        """Reset every sub-env (or those in ``options["reset_mask"]``); see the module doc."""
        seeds = self._seeds(seed)
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        per_env = self._per_env_options(options)
        if seed is not None:  # also seed the vector env's own RNG, as VectorEnv.reset does
            super().reset(seed=seeds[0])
        env_infos: list[tuple[int, dict[str, Any]]] = []
        if self.task_sampler is not None and seed is not None and hasattr(self.task_sampler, "seed"):
            self.task_sampler.seed(seeds[0])
        for i, env in enumerate(self.envs):
            if not mask[i]:
                continue
            self._observations[i], info = env.reset(seed=seeds[i], options=self._sampled(per_env[i]))
            self._autoreset_envs[i] = False
            self._was_reset[i] = True
            env_infos.append((i, info))
        return tuple(self._observations), self._merge_infos(env_infos)

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        if isinstance(seed, bool):
            raise TypeError(f"seed must be an int or a sequence of {self.num_envs} seeds, not a bool")
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for num_envs={self.num_envs}")
        return seeds

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=np.bool_)
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},)")
        if not mask.any():
            raise ValueError("options['reset_mask'] must select at least one sub-env")
        return mask

    def _per_env_options(self, options: dict[str, Any]) -> list[dict[str, Any] | None]:
        """Split ``task_keys`` / ``task_indices`` into one option dict per sub-env."""
        shared = {key: value for key, value in options.items() if key not in _PER_ENV_OPTIONS}
        per_env: list[dict[str, Any]] = [dict(shared) for _ in range(self.num_envs)]
        for plural, singular in _PER_ENV_OPTIONS.items():
            if plural not in options:
                continue
            values = options[plural]
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != self.num_envs:
                raise ValueError(f"options[{plural!r}] must be a list of {self.num_envs} entries (None = random)")
            for i, value in enumerate(values):
                if value is not None:
                    per_env[i][singular] = value
        return [opts or None for opts in per_env]

    # -- step -----------------------------------------------------------------------------------
    def step(
        self, actions: Sequence[Any]
    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env, with all their searches answered by one engine call."""
        actions = self._check_actions(actions)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        env_infos: list[list[dict[str, Any]]] = [[] for _ in range(self.num_envs)]

        pending: list[tuple[int, Turn, slice | None]] = []
        queries: list[str] = []
        contexts: list[tuple[str, int]] = []
        for i, env in enumerate(self.envs):
            if self._autoreset_envs[i]:
                if self.autoreset_mode == AutoresetMode.NEXT_STEP:
                    self._observations[i], info = env.reset(options=self._sampled(None))
                    env_infos[i].append(info)
                    continue
                raise RuntimeError(
                    f"sub-env {i} has ended and autoreset_mode is DISABLED: reset it with "
                    "reset(options={'reset_mask': mask}) before stepping it again"
                )
            turn = env.begin(actions[i])
            span = None
            if turn.parsed.kind == "search":
                span = slice(len(queries), len(queries) + len(turn.queries))
                queries.extend(turn.queries)
                contexts.extend([env.search_context] * len(turn.queries))
            pending.append((i, turn, span))

        spans = [span for _, _, span in pending if span is not None]
        per_span = self._search_isolated(queries, contexts, spans)
        for i, turn, span in pending:
            env = self.envs[i]
            env_results = None if span is None else per_span[(span.start, span.stop)]
            obs, reward, terminated, truncated, info = env.finish_turn(turn, env_results)
            rewards[i], terminations[i], truncations[i] = reward, terminated, truncated
            if self.task_sampler is not None and (terminated or truncated):
                self.task_sampler.observe(info)
            if self.autoreset_mode == AutoresetMode.SAME_STEP and (terminated or truncated):
                env_infos[i].append({"final_obs": obs, "final_info": info})
                obs, info = env.reset(options=self._sampled(None))
            self._observations[i] = obs
            env_infos[i].append(info)

        infos = self._merge_infos([(i, info) for i, items in enumerate(env_infos) for info in items])
        done = np.logical_or(terminations, truncations)
        self._autoreset_envs = done if self.autoreset_mode != AutoresetMode.SAME_STEP else np.zeros_like(done)
        return tuple(self._observations), rewards, terminations, truncations, infos

    def _sampled(self, options: dict[str, Any] | None) -> dict[str, Any] | None:
        """A sub-env's reset options with the curriculum's task when none is given explicitly."""
        if self.task_sampler is None or (options and ("task_key" in options or "task_index" in options)):
            return options
        return {**(options or {}), "task_key": self.task_sampler.sample()}

    def _check_actions(self, actions: Sequence[Any]) -> list[Any]:
        if not self._was_reset.all():
            missing = [i for i in range(self.num_envs) if not self._was_reset[i]]
            raise RuntimeError(f"step() called before reset() for sub-env(s) {missing}: call reset() first")
        if isinstance(actions, (str, bytes, dict)):
            raise TypeError(
                f"actions must be a sequence of {self.num_envs} actions, not a single {type(actions).__name__}"
            )
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"got {len(actions)} actions for num_envs={self.num_envs}")
        return actions

    def _search(self, queries: list[str], contexts: list[tuple[str, int]]) -> list[list[Hit]] | Exception:
        """One engine call for the whole step (none if nobody searched).

        Engines whose results depend on the episode (simulated search) take each query's
        (task_key, group_seed) through ``search_batch``, so batching never mixes contexts.
        """
        if not queries:
            return []
        self.engine_calls += 1
        results, sent = search_episodes(self.engine, queries, contexts, self.top_k)
        self.unique_queries += sent
        return results

    def _search_isolated(
        self, queries: list[str], contexts: list[tuple[str, int]], spans: list[slice]
    ) -> dict[tuple[int, int], list[list[Hit]] | Exception]:
        """Each sub-env's slice of one batched search, keyed by its span.

        A :class:`SearchError` (the backend is down or refused) fails every searching sub-env,
        as one request to the backend would. Any other exception is a bug the engine hit on
        some query: the sub-envs are then searched one by one, so only those whose own queries
        make the engine fail get the error and the others keep their results.
        """
        results = self._search(queries, contexts)
        if not isinstance(results, Exception):
            return {(span.start, span.stop): results[span] for span in spans}
        if isinstance(results, SearchError) or len(spans) == 1:
            if not isinstance(results, SearchError):
                logger.warning("engine %r raised on a batched search", self.engine.name, exc_info=results)
            return {(span.start, span.stop): results for span in spans}
        logger.warning(
            "engine %r raised on a batched search; retrying each sub-env alone", self.engine.name, exc_info=results
        )
        return {(span.start, span.stop): self._search(queries[span], contexts[span]) for span in spans}

    def _merge_infos(self, env_infos: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        """The vector info of one step (:func:`~searchgym.envs.vector_infos.merge_infos`)."""
        return merge_infos(self.num_envs, env_infos)

    # -- misc -----------------------------------------------------------------------------------
    # Gymnasium's RenderFrame excludes None, but a 'human' sub-env prints and returns None (as
    # under SyncVectorEnv, whose render returns the same tuple).
    def render(self) -> tuple[str | None, ...] | None:  # type: ignore[override]
        """One ``ansi`` transcript per sub-env (``None`` without a render mode)."""
        if self.render_mode is None:
            return None
        return tuple(env.render() for env in self.envs)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``getattr(sub_env, name)`` for every sub-env (as ``SyncVectorEnv.get_attr``)."""
        return tuple(getattr(env, name) for env in self.envs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) of every sub-env."""
        results = []
        for env in self.envs:
            value = getattr(env, name)
            results.append(value(*args, **kwargs) if callable(value) else value)
        return tuple(results)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled like a sub-env (see :mod:`searchgym.envs.snapshot`): the config, each sub-env's
        snapshot and the vector env's own bookkeeping; bundle and engine are rebuilt."""
        return {
            "num_envs": self.num_envs,
            "config": self.config,
            "render_mode": self.render_mode,
            "engine": self.envs[0]._carried_engine(),
            "autoreset_mode": self.autoreset_mode,
            "snapshots": [env.snapshot() for env in self.envs],
            "observations": list(self._observations),
            "autoreset_envs": self._autoreset_envs.copy(),
            "was_reset": self._was_reset.copy(),
            "engine_calls": self.engine_calls,
            "unique_queries": self.unique_queries,
            "task_sampler": self.task_sampler,
            "np_random": getattr(self, "_np_random", None),
            "np_random_seed": getattr(self, "_np_random_seed", None),
            "spec": getattr(self, "spec", None),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(
            self,
            state["num_envs"],
            state["config"],
            render_mode=state["render_mode"],
            engine=state["engine"],
            autoreset_mode=state["autoreset_mode"],
            task_sampler=state.get("task_sampler"),
        )
        for env, snapshot in zip(self.envs, state["snapshots"]):
            env.restore(snapshot)
        self._observations = list(state["observations"])
        self._autoreset_envs, self._was_reset = state["autoreset_envs"], state["was_reset"]
        self.engine_calls, self.unique_queries = state["engine_calls"], state["unique_queries"]
        self._np_random, self._np_random_seed = state["np_random"], state["np_random_seed"]
        self.spec = state["spec"]

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

    def __repr__(self) -> str:
        return f"BatchedSearchQAVectorEnv({self.config.id}, num_envs={self.num_envs}, engine={self.engine.name!r})"
