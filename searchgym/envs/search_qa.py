"""``SearchQA-v0``: answer a verified multi-hop question by searching an aligned corpus.

One episode = one task. The agent acts in text (Search-R1 tags) or with structured tool calls;
each step returns only the *new* observation (the ``<information>`` block), never a re-rendered
history, so trainers can keep token-in-token-out. ``terminated`` is set by an answer,
``truncated`` by the turn budget. The gold answer never appears in ``info``; wrappers that need
it read ``env.unwrapped.task``.
"""

from __future__ import annotations

import numbers
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym

from searchgym.answer_guard import CandidateIndex, candidates_for_world
from searchgym.bundle import WorldBundle, bundle_for_config
from searchgym.cache import stable_json
from searchgym.envs.answer_table import score_answer_step
from searchgym.envs.config import EnvConfig, load_spec
from searchgym.envs.episode import MAX_QUERIES_PER_STEP, Episode, EpisodeState, Turn, run_search
from searchgym.envs.snapshot import SnapshotMixin
from searchgym.envs.spaces import AnyText
from searchgym.envs.task_pool import served_tasks
from searchgym.envs.tools import tool_schemas
from searchgym.search.base import SearchEngine
from searchgym.search.factory import engine_entry, make_engine
from searchgym.tasks.tiers import tier_of
from searchgym.types import Hit, Task

__all__ = ["MAX_QUERIES_PER_STEP", "SearchQAEnv", "TaskNotServedError", "run_search", "shared_engine"]

MAX_OBSERVATION_CHARS = 2_000_000
_ENGINES: dict[str, SearchEngine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(bundle: WorldBundle, name: str, options: dict[str, Any]) -> SearchEngine:
    """One engine per (corpus, engine, options) in this process, shared by all envs using it.

    Engines that hold per-episode state (simulated search: its context and ``last_calls``) are
    built for each env instead; their heavy parts are shared inside their modules."""
    if engine_entry(name).per_env:
        return make_engine(name, bundle, **options)
    try:
        key = stable_json([bundle.corpus.content_hash, name, options])
    except TypeError:  # options holding objects (an ArtifactCache, a model): key by identity
        key = repr([bundle.corpus.content_hash, name, sorted((k, repr(v)) for k, v in options.items())])
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = make_engine(name, bundle, **options)
        return _ENGINES[key]


class SearchQAEnv(SnapshotMixin, gym.Env[str, str]):
    """Multi-hop question answering with a search engine over a synthetic, aligned corpus.

    Args:
        spec: a bundled env id (``"SearchQA-v0"``), a path to a spec TOML, or an :class:`EnvConfig`.
        render_mode: ``"ansi"`` (``render()`` returns the transcript) or ``"human"`` (prints it).
        engine: an engine name overriding the spec's (``"bm25"``, ``"dense"``, ...) or an
            already built :class:`SearchEngine` instance to use as is.
        **overrides: any :class:`EnvConfig` field, e.g. ``split="test"``, ``top_k=5``.

    Actions: a string with ``<search>q</search>``, ``<access>doc_id</access>`` or
    ``<answer>a</answer>`` (optionally after ``<think>…</think>``), or an OpenAI-style tool call
    (see :mod:`searchgym.envs.actions`). ``step`` never raises on what the agent sends, nor when
    the engine fails: a malformed action costs a turn and the observation explains what is
    valid; a backend failure is an error observation with ``info["backend_error"]`` set.

    Snapshots: ``snapshot()`` / ``restore(state)`` branch an episode cheaply (tree rollouts);
    the env pickles and deep-copies mid-episode (see :mod:`searchgym.envs.snapshot`).
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        spec: str | Path | EnvConfig = "SearchQA-v0",
        render_mode: str | None = None,
        engine: SearchEngine | str | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(engine, str):  # gym.make("SearchQA-v0", engine="dense") names an engine
            overrides["engine"], engine = engine, None
        config = spec if isinstance(spec, EnvConfig) else load_spec(spec)
        self.config = config.with_overrides(overrides) if overrides else config
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.bundle = bundle_for_config(self.config)
        self.explicit_engine = engine is not None
        self.engine = engine or shared_engine(self.bundle, self.config.engine, dict(self.config.engine_options))
        self.built_engine = None if self.explicit_engine else self.engine
        self.group_seed = 0
        try:
            self.tasks = served_tasks(self.bundle, self.config)
        except ValueError as error:
            raise ValueError(
                f"{error} (split={self.config.split!r}, task_types={self.config.task_types}, hops={self.config.hops})"
            ) from None
        self._task_positions = {task.task_key: index for index, task in enumerate(self.tasks)}
        self.allowed_actions: tuple[str, ...] = (
            ("search", "access", "answer") if self.config.allow_access else ("search", "answer")
        )
        self.observation_space = AnyText(max_length=MAX_OBSERVATION_CHARS)
        self.action_space = AnyText(max_length=self.config.max_action_chars)
        self.tools = tool_schemas(allow_access=self.config.allow_access)
        self._candidates: CandidateIndex | None = None
        self._tiers: dict[str, tuple[Task, int]] = {}  # task_key -> (task, tier), see task_tier
        self.rewards = self._build_rewards()
        self.episode: Episode | None = None

    def _build_rewards(self) -> Any:
        """The spec's ``[reward]`` composition (None: the built-in outcome reward alone)."""
        if not self.config.reward_terms:
            return None
        from searchgym.wrappers.reward_compose import RewardComposition

        return RewardComposition.from_table(self.config.reward_terms)

    # -- properties wrappers and agents read -------------------------------------------------
    @property
    def task(self) -> Task:
        """The current task, gold answer included (for wrappers and oracle agents only)."""
        return self.current.task

    @property
    def state(self) -> EpisodeState:
        return self.current.state

    @property
    def current(self) -> Episode:
        """The running :class:`~searchgym.envs.episode.Episode`."""
        if self.episode is None:
            raise RuntimeError("no episode yet: call reset() first")
        return self.episode

    @property
    def _state(self) -> EpisodeState | None:  # what snapshots carry
        return None if self.episode is None else self.episode.state

    @_state.setter
    def _state(self, state: EpisodeState | None) -> None:
        self.episode = None if state is None else Episode(self, state.task, self.group_seed, state=state)

    @property
    def world(self):
        return self.bundle.world

    @property
    def corpus(self):
        return self.bundle.corpus

    @property
    def answer_candidates(self) -> CandidateIndex:
        """Every candidate answer of this world, for the anti-stuffing guard (built on first use)."""
        if self._candidates is None:
            self._candidates = candidates_for_world(self.bundle.world, self.bundle.tasks)
        return self._candidates

    def task_tier(self, task: Task) -> int:
        """A task's tier (:func:`~searchgym.tasks.tiers.tier_of`), worked out once per task:
        every info carries it, and working it out cost ~3 µs an episode."""
        known = self._tiers.get(task.task_key)
        if known is None or known[0] is not task:
            known = self._tiers[task.task_key] = (task, tier_of(task))
        return known[1]

    def score(self, prediction: str | None, metric: str) -> tuple[float, str | None]:
        """``(score, guard verdict)`` of ``prediction`` for the current task under ``metric``,
        with the anti-stuffing guard of :mod:`searchgym.answer_guard` (the env's reward and
        every answer wrapper score through :func:`~searchgym.envs.answer_table.score_answer_step`)."""
        score = score_answer_step(
            self.task,
            prediction,
            metric,
            self.config.abstain_penalty,
            lambda: self.answer_candidates,
            episode=self.current,
        )
        return score.reward, score.verdict

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
        options = dict(options or {})
        unknown = set(options) - {"task_key", "task_index", "group_seed"}
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {sorted(map(str, unknown))}; valid: ['group_seed', 'task_index', 'task_key']"
            )
        group_seed = options.get("group_seed", 0)
        if not _is_int(group_seed):
            raise ValueError(f"group_seed must be an integer, got {group_seed!r}")
        if "task_key" in options and "task_index" in options:
            raise ValueError("give either options['task_key'] or options['task_index'], not both")
        super().reset(seed=seed)
        task = self._pick_task(options)
        self.group_seed = int(group_seed)
        self.episode = Episode(self, task, self.group_seed)
        return self.episode.start()

    def _pick_task(self, options: dict[str, Any]) -> Task:
        """The task ``options`` asks for, which must be one of this env's (split and filters)."""
        if "task_key" in options:
            key = options["task_key"]
            if not isinstance(key, str):
                raise ValueError(f"task_key must be a string, got {type(key).__name__}")
            position = self._task_positions.get(key)
            if position is None:
                raise TaskNotServedError(self._foreign_key_message(key))
            return self.tasks[position]
        if "task_index" in options:
            index = options["task_index"]
            if not _is_int(index) or not 0 <= int(index) < len(self.tasks):
                raise ValueError(f"task_index must be an integer in [0, {len(self.tasks)}), got {index!r}")
            return self.tasks[int(index)]
        return self.tasks[int(self.np_random.integers(len(self.tasks)))]

    def _foreign_key_message(self, key: str) -> str:
        shown = repr(key)
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        filters = (
            f"split={self.config.split!r}, task_types={list(self.config.task_types)}, "
            f"hops={list(self.config.hops) or 'any'}"
        )
        try:
            other = self.bundle.tasks[key]
        except KeyError:
            return f"unknown task_key {shown}: not a task of this env's world ({filters})"
        return (
            f"task_key {shown} is a {other.split} {other.task_type} task with {other.hops} hop(s), outside "
            f"this env's tasks ({filters}); make an env with that split or those filters to serve it"
        )

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.episode is None:
            raise RuntimeError("step() called before reset(): call env.reset() to start an episode")
        episode = self.episode
        if episode.state.done:
            raise RuntimeError("step() called after the episode ended (terminated or truncated): call env.reset()")
        return self.finish_turn(episode.begin(action), None, search=True)

    def begin(self, action: Any) -> Turn:
        """Preprocess and parse an action (shared by :meth:`step` and the vector envs, which then
        answer the searches of all their sub-envs with one engine call)."""
        return self.current.begin(action)

    @property
    def search_context(self) -> tuple[str, int]:
        """(task_key, group_seed) of the running episode, for engines whose results depend on it."""
        return self.current.search_context

    def finish_turn(
        self, turn: Turn, results: list[list[Hit]] | Exception | None, *, search: bool = False
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Finish a turn whose searches are answered (``search=True``: search here, alone)."""
        episode = self.current
        if search and turn.parsed.kind == "search":
            results = run_search(self.engine, turn.queries, self.config.top_k)
        step = episode.finish(turn, results)
        if self.render_mode == "human":
            self.render()
        return step

    def render(self) -> str | None:
        if self.episode is None or self.render_mode is None:
            return None
        text = "\n".join(f"[{m['role']}] {m['content']}" for m in self.episode.state.transcript)
        if self.render_mode == "human":
            print(text)
            return None
        return text


class TaskNotServedError(KeyError, ValueError):
    """``reset(options={"task_key": ...})`` named a task this env does not serve: unknown, or
    outside its split and filters (a train env never serves a test task)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "task not served by this env"


def _is_int(value: Any) -> bool:
    """An integer, numpy integers included, but not a bool (``True`` is not task 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
