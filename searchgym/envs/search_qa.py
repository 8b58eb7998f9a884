"""``SearchQA-v0``: answer a verified multi-hop question by searching an aligned corpus.

One episode = one task. The agent acts in text (Search-R1 tags) or with structured tool calls;
each step returns only the *new* observation (the ``<information>`` block), never a re-rendered
history, so trainers can keep token-in-token-out. ``terminated`` is set by an answer,
``truncated`` by the turn budget. The gold answer never appears in ``info``; wrappers that need
it read ``env.unwrapped.task``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import gymnasium as gym

from searchgym.bundle import WorldBundle, bundle_for_config
from searchgym.cache import stable_json
from searchgym.envs.actions import ParsedAction, parse_action
from searchgym.envs.config import EnvConfig, load_spec
from searchgym.envs.observations import format_access, format_error, format_search_results
from searchgym.envs.prompts import render_invalid_action, render_prompt
from searchgym.envs.spaces import AnyText
from searchgym.envs.tools import tool_schemas
from searchgym.metrics import exact_match, substring_match, token_f1
from searchgym.search.base import SearchEngine, SearchError, UnknownDocumentError
from searchgym.search.factory import make_engine
from searchgym.types import Hit, Task

MAX_OBSERVATION_CHARS = 2_000_000
MAX_QUERIES_PER_STEP = 8
_ENGINES: dict[str, SearchEngine] = {}
_ENGINES_LOCK = threading.Lock()


def shared_engine(bundle: WorldBundle, name: str, options: dict[str, Any]) -> SearchEngine:
    """One engine per (corpus, engine, options) in this process, shared by all envs using it."""
    try:
        key = stable_json([bundle.corpus.content_hash, name, options])
    except TypeError:  # options holding objects (an ArtifactCache, a model): key by identity
        key = repr([bundle.corpus.content_hash, name, sorted((k, repr(v)) for k, v in options.items())])
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = make_engine(name, bundle.corpus.passages, **options)
        return _ENGINES[key]


class EpisodeState:
    """Everything that changes during an episode (reset replaces it whole)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.turn = 0
        self.done = False
        self.num_searches = 0
        self.num_accesses = 0
        self.num_invalid = 0
        self.queries: list[str] = []
        self.retrieved: dict[str, None] = {}  # ordered set of doc ids seen
        self.found_facts: set[int] = set()
        self.prediction: str | None = None
        self.em = 0.0
        self.f1 = 0.0
        self.transcript: list[dict[str, str]] = []

    def evidence_recall(self) -> float:
        return len(self.found_facts) / max(1, len(self.task.evidence))

    def record_docs(self, doc_ids: list[str]) -> int:
        """Remember retrieved docs; return how many gold facts they newly cover."""
        for doc_id in doc_ids:
            self.retrieved.setdefault(doc_id, None)
        before = len(self.found_facts)
        fresh = set(doc_ids)
        for index, passages in enumerate(self.task.evidence):
            if index not in self.found_facts and fresh.intersection(passages):
                self.found_facts.add(index)
        return len(self.found_facts) - before


class SearchQAEnv(gym.Env[str, str]):
    """Multi-hop question answering with a search engine over a synthetic, aligned corpus.

    Args:
        spec: a bundled env id (``"SearchQA-v0"``), a path to a spec TOML, or an :class:`EnvConfig`.
        render_mode: ``"ansi"`` (``render()`` returns the transcript) or ``"human"`` (prints it).
        engine: an engine name overriding the spec's (``"bm25"``, ``"dense"``, ...) or an
            already built :class:`SearchEngine` instance to use as is.
        **overrides: any :class:`EnvConfig` field, e.g. ``split="test"``, ``top_k=5``.

    Actions: a string with ``<search>q</search>``, ``<access>doc_id</access>`` or
    ``<answer>a</answer>`` (optionally after ``<think>…</think>``), or an OpenAI-style tool call
    (see :mod:`searchgym.envs.actions`). Malformed actions never raise: they cost a turn and the
    observation explains what is valid.
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
        if engine is None:
            # Simulated engines need the world (to ground documents) and hold per-episode
            # context, so each env gets its own; their heavy parts are shared inside the module.
            from searchgym.search.simulated import is_simulated_engine, make_simulated_engine

            if is_simulated_engine(self.config.engine):
                engine = make_simulated_engine(self.bundle, self.config.engine, **dict(self.config.engine_options))
        self.engine = engine or shared_engine(self.bundle, self.config.engine, dict(self.config.engine_options))
        self.group_seed = 0
        self.tasks = self.bundle.tasks.select(self.config.split, self.config.task_types, self.config.hops or None)
        if not self.tasks:
            raise ValueError(
                f"{self.config.id}: no task matches split={self.config.split!r}, "
                f"task_types={self.config.task_types}, hops={self.config.hops}; widen the filters"
            )
        self.allowed_actions = ("search", "access", "answer") if self.config.allow_access else ("search", "answer")
        self.observation_space = AnyText(max_length=MAX_OBSERVATION_CHARS)
        self.action_space = AnyText(max_length=self.config.max_action_chars)
        self._state: EpisodeState | None = None
        self._tools = tool_schemas(allow_access=self.config.allow_access)

    # -- properties wrappers and agents read -------------------------------------------------
    @property
    def task(self) -> Task:
        """The current task, gold answer included (for wrappers and oracle agents only)."""
        if self._state is None:
            raise RuntimeError("no episode yet: call reset() first")
        return self._state.task

    @property
    def state(self) -> EpisodeState:
        if self._state is None:
            raise RuntimeError("no episode yet: call reset() first")
        return self._state

    @property
    def world(self):
        return self.bundle.world

    @property
    def corpus(self):
        return self.bundle.corpus

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"task_key", "task_index", "group_seed"}
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {sorted(unknown)}; valid: ['group_seed', 'task_index', 'task_key']"
            )
        group_seed = options.get("group_seed", 0)
        if isinstance(group_seed, bool) or not isinstance(group_seed, int):
            raise ValueError(f"group_seed must be an integer, got {group_seed!r}")
        if "task_key" in options:
            key = options["task_key"]
            if not isinstance(key, str):
                raise ValueError(f"task_key must be a string, got {type(key).__name__}")
            task = self.bundle.tasks[key]
        elif "task_index" in options:
            index = options["task_index"]
            if not isinstance(index, int) or not 0 <= index < len(self.tasks):
                raise ValueError(f"task_index must be an integer in [0, {len(self.tasks)}), got {index!r}")
            task = self.tasks[index]
        else:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        self._state = EpisodeState(task)
        # GRPO groups share (task, group_seed): engines with randomness (simulated search) derive
        # their draws from it, so every rollout of a group sees the same documents.
        self.group_seed = group_seed
        set_context = getattr(self.engine, "set_context", None)
        if callable(set_context):
            set_context(task.task_key, group_seed)
        prompt = render_prompt(task.question, style=self.config.prompt_style,
                               allow_access=self.config.allow_access, top_k=self.config.top_k)
        self._state.transcript.append({"role": "user", "content": prompt})
        info = self._base_info()
        info["messages"] = [{"role": "user", "content": prompt}]
        info["tools"] = self._tools
        info["question"] = task.question
        return prompt, info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("step() called before reset(): call env.reset() to start an episode")
        if self._state.done:
            raise RuntimeError("step() called after the episode ended (terminated or truncated): call env.reset()")
        parsed = self.parse(action)
        results = None
        if parsed.kind == "search":
            try:
                results = self.engine.search(list(parsed.queries), self.config.top_k)
            except SearchError as error:
                results = error
        return self.finish_step(parsed, action, results)

    def parse(self, action: Any) -> ParsedAction:
        """Parse an action with this env's limits (shared by :meth:`step` and vector envs)."""
        parsed = parse_action(action, max_chars=self.config.max_action_chars, allowed_actions=self.allowed_actions)
        if parsed.kind == "search" and len(parsed.queries) > MAX_QUERIES_PER_STEP:
            parsed = ParsedAction(
                kind="invalid", raw_length=parsed.raw_length, protocol=parsed.protocol,
                error=f"a search may hold at most {MAX_QUERIES_PER_STEP} queries, got {len(parsed.queries)}",
            )
        return parsed

    @property
    def search_context(self) -> tuple[str, int]:
        """(task_key, group_seed) of the running episode, for engines whose results depend on it."""
        return self.task.task_key, self.group_seed

    def finish_step(
        self, parsed: ParsedAction, action: Any, results: list[list[Hit]] | Exception | None
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply a parsed action whose search results (if any) are already known.

        Split from :meth:`step` so a vector env can answer the searches of all its sub-envs
        with one batched engine call and then finish each step here.
        """
        state = self.state
        state.turn += 1
        state.transcript.append({"role": "assistant", "content": action if isinstance(action, str) else stable_json(action)})
        doc_ids: list[str] = []
        terminated = False
        reward = 0.0
        error: str | None = parsed.error
        if parsed.kind == "search":
            state.num_searches += 1
            state.queries.extend(parsed.queries)
            if isinstance(results, Exception):
                error = f"search failed: {results}"
                observation = format_error(error)
            else:
                assert results is not None
                doc_ids = [hit.doc_id for hits in results for hit in hits]
                observation = format_search_results(results, list(parsed.queries),
                                                    max_doc_chars=self.config.max_doc_chars,
                                                    show_ids=self.config.show_doc_ids)
        elif parsed.kind == "access":
            state.num_accesses += 1
            try:
                passage = self.engine.access(parsed.argument)
                doc_ids = [passage.doc_id]
                observation = format_access(passage, max_chars=4 * self.config.max_doc_chars,
                                            show_ids=self.config.show_doc_ids)
            except UnknownDocumentError as missing:
                error = str(missing)
                observation = format_error(f"{missing}. Use a document id shown in search results.")
        elif parsed.kind == "answer":
            terminated = True
            state.prediction = parsed.argument
            state.em = exact_match(parsed.argument, state.task.answers)
            state.f1 = token_f1(parsed.argument, state.task.answers)
            reward = {"em": state.em, "f1": state.f1}.get(self.config.reward)
            if reward is None:
                reward = substring_match(parsed.argument, state.task.answers)
            observation = ""
        else:
            state.num_invalid += 1
            observation = render_invalid_action(parsed.error, allow_access=self.config.allow_access)
        new_evidence = state.record_docs(doc_ids)
        truncated = not terminated and state.turn >= self.config.max_turns
        state.done = terminated or truncated
        if observation:
            state.transcript.append({"role": "user", "content": observation})
        info = self._base_info()
        info.update(
            action_kind=parsed.kind,
            format_ok=parsed.format_ok,
            error=error,
            queries=list(parsed.queries),
            doc_ids=doc_ids,
            new_evidence=new_evidence,
        )
        if self.render_mode == "human":
            self.render()
        return observation, float(reward), terminated, truncated, info

    def _base_info(self) -> dict[str, Any]:
        state = self.state
        return {
            "task_key": state.task.task_key,
            "task_type": state.task.task_type,
            "hops": state.task.hops,
            "min_searches": state.task.min_searches,
            "split": state.task.split,
            "turn": state.turn,
            "num_searches": state.num_searches,
            "num_accesses": state.num_accesses,
            "num_invalid": state.num_invalid,
            "retrieved_doc_ids": list(state.retrieved),
            "evidence_recall": state.evidence_recall(),
            "answered": state.prediction is not None,
            "prediction": state.prediction,
            "em": state.em,
            "f1": state.f1,
        }

    def render(self) -> str | None:
        if self._state is None or self.render_mode is None:
            return None
        text = "\n".join(f"[{m['role']}] {m['content']}" for m in self._state.transcript)
        if self.render_mode == "human":
            print(text)
            return None
        return text
