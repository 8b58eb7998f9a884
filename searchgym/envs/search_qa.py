"""``SearchQA-v0``: answer a verified multi-hop question by searching an aligned corpus.

One episode = one task. The agent acts in text (Search-R1 tags) or with structured tool calls;
each step returns only the *new* observation (the ``<information>`` block), never a re-rendered
history, so trainers can keep token-in-token-out. ``terminated`` is set by an answer,
``truncated`` by the turn budget. The gold answer never appears in ``info``; wrappers that need
it read ``env.unwrapped.task``.
"""

from __future__ import annotations

import logging
import numbers
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym

from searchgym.answer_forms import score_form
from searchgym.answer_guard import CandidateIndex, candidates_for_world, score_answer
from searchgym.bundle import WorldBundle, bundle_for_config
from searchgym.cache import stable_json
from searchgym.corpus.page import open_page
from searchgym.envs.actions import ParsedAction, parse_action
from searchgym.envs.config import EnvConfig, load_spec
from searchgym.envs.episode import EpisodeState, action_text
from searchgym.envs.observations import (
    format_access,
    format_error,
    format_search_results,
    result_records,
    truncate_text,
)
from searchgym.envs.prompts import render_invalid_action, render_prompt
from searchgym.envs.snapshot import SnapshotMixin
from searchgym.envs.spaces import AnyText
from searchgym.envs.tools import tool_schemas
from searchgym.metrics import exact_match, token_f1
from searchgym.search.base import SearchEngine, SearchError, UnknownDocumentError, set_context, shows_agent_text
from searchgym.search.factory import engine_entry, make_engine
from searchgym.tasks.tiers import tier_of
from searchgym.types import Hit, Task

logger = logging.getLogger(__name__)

MAX_OBSERVATION_CHARS = 2_000_000
MAX_QUERIES_PER_STEP = 8
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
        self.tasks = self.bundle.tasks.select(self.config.split, self.config.task_types, self.config.hops or None)
        if not self.tasks:
            raise ValueError(
                f"{self.config.id}: no task matches split={self.config.split!r}, "
                f"task_types={self.config.task_types}, hops={self.config.hops}; widen the filters"
            )
        self._task_positions = {task.task_key: index for index, task in enumerate(self.tasks)}
        self.allowed_actions = ("search", "access", "answer") if self.config.allow_access else ("search", "answer")
        self.observation_space = AnyText(max_length=MAX_OBSERVATION_CHARS)
        self.action_space = AnyText(max_length=self.config.max_action_chars)
        self._state: EpisodeState | None = None
        self._tools = tool_schemas(allow_access=self.config.allow_access)
        self._candidates: CandidateIndex | None = None

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

    @property
    def answer_candidates(self) -> CandidateIndex:
        """Every candidate answer of this world, for the anti-stuffing guard (built on first use)."""
        if self._candidates is None:
            self._candidates = candidates_for_world(self.bundle.world, self.bundle.tasks)
        return self._candidates

    def score(self, prediction: str | None, metric: str) -> tuple[float, str | None]:
        """``(score, guard verdict)`` of ``prediction`` for the current task under ``metric``,
        with the anti-stuffing guard of :mod:`searchgym.answer_guard` (the env's reward and
        every answer wrapper score through this)."""
        form = score_form(self.task.meta, prediction, self.config.abstain_penalty)
        if form is not None:  # a list, an abstention, or an abstention on an answerable task
            term = "f1" if metric == "f1" else "em"  # a list's set F1 / exact set match
            return (-self.config.abstain_penalty if form["penalised"] else form[term],
                    "abstained" if form["penalised"] else None)
        candidates = None if metric == "em" else self.answer_candidates
        return score_answer(prediction, self.task.answers, metric, candidates=candidates)

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
        self._state = EpisodeState(task)
        # GRPO groups share (task, group_seed): engines with randomness (simulated search) derive
        # their draws from it, so every rollout of a group sees the same documents.
        self.group_seed = int(group_seed)
        set_context(self.engine, task.task_key, self.group_seed)
        prompt = render_prompt(task.question, style=self.config.prompt_style,
                               allow_access=self.config.allow_access, top_k=self.config.top_k)
        self._state.transcript.append({"role": "user", "content": prompt})
        info = self._base_info()
        info["messages"] = [{"role": "user", "content": prompt}]
        info["tools"] = self._tools
        info["question"] = task.question
        info["results"] = []
        return prompt, info

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
        filters = (f"split={self.config.split!r}, task_types={list(self.config.task_types)}, "
                   f"hops={list(self.config.hops) or 'any'}")
        try:
            other = self.bundle.tasks[key]
        except KeyError:
            return f"unknown task_key {shown}: not a task of this env's world ({filters})"
        return (f"task_key {shown} is a {other.split} {other.task_type} task with {other.hops} hop(s), outside "
                f"this env's tasks ({filters}); make an env with that split or those filters to serve it")

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("step() called before reset(): call env.reset() to start an episode")
        if self._state.done:
            raise RuntimeError("step() called after the episode ended (terminated or truncated): call env.reset()")
        parsed = self.parse(action)
        results = None
        if parsed.kind == "search":
            results = run_search(self.engine, list(parsed.queries), self.config.top_k)
        return self.finish_step(parsed, action, results)

    def parse(self, action: Any) -> ParsedAction:
        """Parse an action with this env's limits (shared by :meth:`step` and vector envs).

        Never raises: an action the parser cannot even inspect (an object whose methods raise)
        is an invalid action like any other."""
        try:
            parsed = parse_action(action, max_chars=self.config.max_action_chars, allowed_actions=self.allowed_actions)
        except Exception as error:  # noqa: BLE001 - agent input may be any object
            return ParsedAction(kind="invalid", protocol="unknown",
                                error=f"the action could not be read ({type(error).__name__}); "
                                      "send a string or a tool-call mapping")
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
        with one batched engine call and then finish each step here. Everything that can fail
        (the engine's ``access``, rendering what an engine returned) runs before the episode
        state changes, so a failure is an observation and never leaves counters half-updated.
        """
        state = self.state
        outcome = self._outcome(parsed, results)
        state.turn += 1
        state.transcript.append({"role": "assistant", "content": action_text(action, self.config.max_action_chars)})
        if parsed.kind == "search":
            state.num_searches += 1
            state.queries.extend(parsed.queries)
            state.record_search(outcome.doc_ids, outcome.evidence_text)
        elif parsed.kind == "access":
            state.num_accesses += 1
            if outcome.opened_shown:
                state.evidence_text.extend(outcome.evidence_text)
        elif parsed.kind == "answer":
            state.prediction, state.em, state.f1 = parsed.argument, outcome.em, outcome.f1
        else:
            state.num_invalid += 1
        new_evidence = state.record_docs(outcome.doc_ids)
        truncated = not outcome.terminated and state.turn >= self.config.max_turns
        state.done = outcome.terminated or truncated
        if outcome.observation:
            state.transcript.append({"role": "user", "content": outcome.observation})
        info = self._base_info()
        info.update(
            action_kind=parsed.kind,
            format_ok=parsed.format_ok,
            error=outcome.error,
            backend_error=outcome.backend_error,
            unsearched_access=parsed.kind == "access" and bool(outcome.doc_ids) and not outcome.opened_shown,
            queries=list(parsed.queries),
            doc_ids=outcome.doc_ids,
            results=outcome.results,
            new_evidence=new_evidence,
            **outcome.terms,  # a list's set_f1 / set_exact, abstained, penalised (answer_forms)
        )
        if self.render_mode == "human":
            self.render()
        return outcome.observation, float(outcome.reward), outcome.terminated, truncated, info

    def _outcome(self, parsed: ParsedAction, results: list[list[Hit]] | Exception | None) -> _Outcome:
        """What an action produces (observation, doc ids, reward), computed without touching state."""
        outcome = _Outcome(error=parsed.error)
        config = self.config
        if parsed.kind == "search":
            try:
                if isinstance(results, Exception):
                    raise results
                assert results is not None
                outcome.observation = format_search_results(results, list(parsed.queries),
                                                            max_doc_chars=config.max_doc_chars,
                                                            show_ids=config.show_doc_ids)
                outcome.doc_ids = [str(hit.doc_id) for hits in results for hit in hits]
                outcome.results = result_records(results, list(parsed.queries), config.max_doc_chars)
                if not shows_agent_text(self.engine):
                    outcome.evidence_text = [f"{hit.title}\n{truncate_text(hit.text.strip(), config.max_doc_chars)}"
                                             for hits in results for hit in hits]
            except Exception as error:  # noqa: BLE001 - any backend failure is an observation
                outcome.fail("search", error)
        elif parsed.kind == "access":
            try:
                passage = self.engine.access(parsed.argument)
                limit = 4 * config.max_doc_chars
                page = open_page(self.bundle.world, self.bundle.corpus, passage)
                if page is None:  # a round-up page or an engine's own document: opens as itself
                    outcome.observation = format_access(passage, max_chars=limit, show_ids=config.show_doc_ids)
                    outcome.doc_ids = [str(passage.doc_id)]
                    outcome.results = result_records([[passage]], [None], limit)
                    shown = [(passage.title, truncate_text(passage.text.strip(), limit))]
                else:  # a passage of an article opens the whole article: every passage it shows
                    outcome.observation = format_access(page, show_ids=config.show_doc_ids)
                    outcome.doc_ids = list(page.doc_ids)
                    outcome.results = result_records([[self.corpus[d] for d in page.doc_ids]], [None], None)
                    shown = [(self.corpus[d].title, self.corpus[d].text) for d in page.doc_ids]
                outcome.opened_shown = str(passage.doc_id) in self.state.shown
                if not shows_agent_text(self.engine):
                    outcome.evidence_text = [f"{title}\n{text}" for title, text in shown]
            except UnknownDocumentError as missing:
                outcome.error = str(missing)
                outcome.observation = format_error(f"{missing}. Use a document id shown in search results.")
            except Exception as error:  # noqa: BLE001
                outcome.fail("access", error)
        elif parsed.kind == "answer":
            outcome.terminated = True
            form = score_form(self.task.meta, parsed.argument, config.abstain_penalty)
            if form is not None:
                outcome.em, outcome.f1 = form["em"], form["f1"]
                outcome.terms = {k: v for k, v in form.items() if k not in ("em", "f1")}
                outcome.reward = self.score(parsed.argument, config.reward)[0]
            else:
                outcome.em = exact_match(parsed.argument, self.task.answers)
                outcome.f1 = token_f1(parsed.argument, self.task.answers)
                outcome.reward = outcome.em if config.reward == "em" else self.score(parsed.argument, config.reward)[0]
        else:
            outcome.observation = render_invalid_action(parsed.error, allow_access=config.allow_access)
        return outcome

    def _base_info(self) -> dict[str, Any]:
        state = self.state
        return {
            "task_key": state.task.task_key,
            "task_type": state.task.task_type,
            "hops": state.task.hops,
            "min_searches": state.task.min_searches,
            "tier": tier_of(state.task),
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


class TaskNotServedError(KeyError, ValueError):
    """``reset(options={"task_key": ...})`` named a task this env does not serve: unknown, or
    outside its split and filters (a train env never serves a test task)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "task not served by this env"


class _Outcome:
    """The effects of one action, before they are applied to the episode."""

    def __init__(self, error: str | None) -> None:
        self.error = error
        self.observation = ""
        self.doc_ids: list[str] = []
        self.results: list[dict[str, Any]] = []  # info["results"]: what the observation shows, structured
        self.evidence_text: list[str] = []
        self.opened_shown = False
        self.backend_error = False
        self.terminated = False
        self.reward = 0.0
        self.em = 0.0
        self.f1 = 0.0
        self.terms: dict[str, float] = {}  # an answer's reward terms beyond em/f1 (answer_forms)

    def fail(self, what: str, error: BaseException) -> None:
        """Turn a backend failure into the step's error observation."""
        detail = str(error) if isinstance(error, SearchError) else f"{type(error).__name__}: {error}"
        self.error = f"{what} failed: {detail}"
        self.observation = format_error(self.error)
        self.doc_ids, self.results, self.evidence_text, self.backend_error = [], [], [], True


def run_search(engine: SearchEngine, queries: list[str], k: int) -> list[list[Hit]] | Exception:
    """``engine.search`` whose failure (any exception, not only :class:`SearchError`) is returned,
    not raised, and whose answer is checked: one result list per query."""
    try:
        results = engine.search(queries, k)
        if not isinstance(results, list) or len(results) != len(queries):
            got = len(results) if isinstance(results, list) else type(results).__name__
            return SearchError(f"engine {getattr(engine, 'name', engine)!r} returned {got} result lists "
                               f"for {len(queries)} queries")
        return results
    except Exception as error:  # noqa: BLE001 - a backend failure is an observation
        if not isinstance(error, SearchError):
            logger.warning("engine %r raised on a search", getattr(engine, "name", engine), exc_info=True)
        return error


def _is_int(value: Any) -> bool:
    """An integer, numpy integers included, but not a bool (``True`` is not task 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
