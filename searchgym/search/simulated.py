"""Simulated search engines grounded in the world graph (ZeroSearch-style, but never lying).

ZeroSearch replaces the web with an LLM told to write *useful* or *noisy* documents for a query;
the noise probability is raised by a curriculum. Its documents can state wrong facts (its
maintainers say so). Here the world is known, so the simulation is *grounded*:

* :class:`TemplateSimulatedEngine` (no LLM, fast, deterministic, the embedded default): a useful
  call returns real corpus passages about the entities the query names, ranked by query overlap
  (so doc ids are real, ``access`` works and evidence recall counts them); a noisy call returns
  controlled noise — passages about a *look-alike* entity (a name one letter apart) or unrelated
  distractor passages — and never any statement about the asked entity.
* :class:`LLMSimulatedEngine`: an LLM writes the documents with ZeroSearch's useful/noisy prompt,
  plus the graph facts it may use (useful) or a look-alike's facts (noisy). Each document is then
  checked against the facts and the check is recorded in ``last_calls``. Results are cached by
  (model, prompt, sampling seed) in memory and on disk, so every rollout of a GRPO group sees the
  same documents.

Useful vs. noisy is decided per query by hashing ``(seed, group_seed, task_key, query)`` — not a
global RNG — against ``noise_prob`` (a settable attribute a curriculum can raise). Raising
``noise_prob`` only ever adds noisy queries. ``set_context(task_key, group_seed)`` tells the
engine which task and GRPO group is running; :meth:`search_batch` takes one context per query
so a vector env can batch the searches of several sub-envs in one call.

Both engines are stateful (``last_calls``, the context): use one instance per env. Heavy parts
(the grounder, the overlap index, the generator, the result cache) are shared in the process.
The LLM engine lives in :mod:`searchgym.search.simulated_llm`; its names are re-exported here.
Both pickle: the shared parts are dropped and reattached on the other side.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from searchgym.cache import content_hash
from searchgym.corpus.corpus import Corpus
from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.corpus_index import check_k, clean_queries, shorten
from searchgym.search.factory import ENGINE_REGISTRY, register_engine
from searchgym.search.grounding import (
    Grounder,
    Grounding,
    get_grounder,
    relation_vocabulary,
    tokenize,
)
from searchgym.types import Hit, Passage, Task
from searchgym.world.world import World

logger = logging.getLogger(__name__)

__all__ = [
    "SIMULATED_ENGINES",
    "LLMSimulatedEngine",
    "SearchContext",
    "TemplateSimulatedEngine",
    "is_simulated_engine",
    "make_simulated_engine",
    "noise_draw",
    "parse_documents",
    "zerosearch_prompt",
]

SIMULATED_ENGINES = ("simulated", "simulated_llm", "self")
"""Engine names that need the world bundle: build them with :func:`make_simulated_engine`."""

SIM_ID_PREFIX = "sim:"
GENERATED_TITLE = "Search result"
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
                 8: "eight", 9: "nine", 10: "ten"}


# -- shared helpers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchContext:
    """Which task and GRPO group a search belongs to (``task_key`` None: unknown task)."""

    task_key: str | None = None
    group_seed: int = 0


def _hash_int(*parts: object) -> int:
    return int(content_hash(*(str(part) for part in parts)), 16)


def noise_draw(seed: int, context: SearchContext, query: str) -> float:
    """The uniform number in [0, 1) that decides noise for ``query``: noisy iff ``< noise_prob``."""
    return _hash_int("noise", seed, context.group_seed, context.task_key or "", query) / float(16**16)


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_hash_int(*parts))


def _check_prob(value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"noise_prob must be in [0, 1], got {value}")
    return value


class _OverlapIndex:
    """Token sets and idf of every passage: ranks passages by query-token overlap."""

    def __init__(self, corpus: Corpus) -> None:
        self.rows: dict[str, int] = {}
        self.tokens: list[frozenset[str]] = []
        postings: dict[str, list[int]] = {}
        for row, passage in enumerate(corpus.passages):
            self.rows[passage.doc_id] = row
            toks = frozenset(tokenize(f"{passage.title} {passage.text}"))
            self.tokens.append(toks)
            for token in toks:
                postings.setdefault(token, []).append(row)
        size = max(1, len(corpus.passages))
        self.postings = postings
        self.idf = {t: math.log(1.0 + size / len(rows)) for t, rows in postings.items()}
        self.distractors = [row for row, p in enumerate(corpus.passages) if p.kind == "distractor"]

    def score(self, query_tokens: Sequence[str], row: int) -> float:
        return sum(self.idf.get(t, 0.0) for t in set(query_tokens) if t in self.tokens[row])

    def search(self, query_tokens: Sequence[str], k: int, max_df: float = 0.2) -> list[int]:
        """Rows sharing a not-too-common token with the query, best overlap first."""
        size = len(self.tokens)
        candidates: set[int] = set()
        for token in set(query_tokens):
            rows = self.postings.get(token, ())
            if rows and len(rows) <= max(5, max_df * size):
                candidates.update(rows)
        ranked = sorted(candidates, key=lambda row: (-self.score(query_tokens, row), row))
        return ranked[:k]


_INDEXES: dict[str, _OverlapIndex] = {}
_SHARED_LOCK = threading.Lock()


def _overlap_index(corpus: Corpus) -> _OverlapIndex:
    key = corpus.content_hash
    with _SHARED_LOCK:
        index = _INDEXES.get(key)
    if index is None:
        index = _OverlapIndex(corpus)
        with _SHARED_LOCK:
            index = _INDEXES.setdefault(key, index)
    return index


class _SimulatedBase:
    """Context, noise decision, corpus access and ``last_calls`` shared by both simulators."""

    name = "simulated"

    def __init__(
        self,
        world: World,
        corpus: Corpus,
        *,
        noise_prob: float,
        seed: int,
        group_seed: int,
        docs_per_query: int | None,
        tasks: Any = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(world, World):
            raise TypeError(f"world must be a World, got {type(world).__name__}")
        if not isinstance(corpus, Corpus):
            raise TypeError(f"corpus must be a Corpus, got {type(corpus).__name__}")
        if docs_per_query is not None:
            check_k(docs_per_query)
        self.world = world
        self.corpus = corpus
        self.grounder: Grounder = get_grounder(world)
        self.index = _overlap_index(corpus)
        self.seed = int(seed)
        self.noise_prob = noise_prob
        self.docs_per_query = docs_per_query
        self.tasks = tasks
        self.context = SearchContext(None, int(group_seed))
        self.last_calls: list[dict[str, Any]] = []
        if name:
            self.name = name

    # -- settings ---------------------------------------------------------------------------
    @property
    def noise_prob(self) -> float:
        return self._noise_prob

    @noise_prob.setter
    def noise_prob(self, value: float) -> None:
        self._noise_prob = _check_prob(value)

    @property
    def passages(self) -> tuple[Passage, ...]:
        return tuple(self.corpus.passages)

    def set_context(self, task_key: str | None, group_seed: int = 0) -> None:
        """Tell the engine which task (and GRPO group) the next searches belong to."""
        if task_key is not None and not isinstance(task_key, str):
            raise TypeError(f"task_key must be a str or None, got {type(task_key).__name__}")
        self.context = SearchContext(task_key, int(group_seed))

    # -- snapshots and pickling ---------------------------------------------------------------
    def snapshot_state(self, doc_ids: Sequence[str] = ()) -> dict[str, Any]:
        """The per-episode state an env snapshot carries (see :mod:`searchgym.envs.snapshot`)."""
        return {"context": self.context, "noise_prob": self._noise_prob,
                "last_calls": [dict(call) for call in self.last_calls]}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        self.context = state["context"]
        self.noise_prob = state["noise_prob"]
        self.last_calls = [dict(call) for call in state["last_calls"]]

    def __getstate__(self) -> dict[str, Any]:
        # The grounder and overlap index are per-world caches shared in the process (and hold
        # locks): rebuild them from the world and corpus on the other side.
        state = dict(self.__dict__)
        state["grounder"] = state["index"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.grounder = get_grounder(self.world)
        self.index = _overlap_index(self.corpus)

    # -- shared pieces ------------------------------------------------------------------------
    def is_noisy(self, query: str, context: SearchContext | None = None) -> bool:
        return noise_draw(self.seed, context or self.context, query) < self._noise_prob

    def _task(self, context: SearchContext) -> Task | None:
        if context.task_key is None or self.tasks is None:
            return None
        try:
            return self.tasks[context.task_key]
        except KeyError:
            return None

    def _needed_facts(self, context: SearchContext) -> set[str] | None:
        task = self._task(context)
        return None if task is None else {step.fact_id for step in task.chain}

    def _count(self, k: int) -> int:
        return k if self.docs_per_query is None else min(k, self.docs_per_query)

    def _safe_for(self, passage: Passage, asked: set[str]) -> bool:
        """True when ``passage`` says nothing about the asked entities (noise must not help or lie):
        it is not their page, does not name them, and states no fact involving them."""
        if passage.entity_id in asked or asked.intersection(passage.mentions):
            return False
        return not any(set(fact_id.split("|", 2)[::2]) & asked for fact_id in passage.facts)

    def _noise_rows(self, grounding: Grounding, query_tokens: list[str], count: int,
                    rng: np.random.Generator, exclude: set[int]) -> tuple[list[int], str]:
        """Rows of noise passages and the kind of the first one.

        In order: pages of *look-alike* entities (best query overlap first); then *related*
        passages (sampled among the best overlaps with the query minus the entity names, e.g.
        other people's birthplaces for "where was X born"); then distractors. Every passage is
        filtered with :meth:`_safe_for`, so none says anything about the asked entities.
        """
        asked = set(grounding.entity_ids)
        chosen: list[int] = []
        kinds: list[str] = []

        def add(rows: Sequence[int], kind: str) -> None:
            for row in rows:
                if len(chosen) >= count:
                    return
                if row not in exclude and row not in chosen and self._safe_for(self.corpus.passages[row], asked):
                    chosen.append(row)
                    kinds.append(kind)

        look_rows = [self.index.rows[doc_id] for other in grounding.look_alikes
                     for doc_id in self.corpus.pages.get(other, ())]
        add(sorted(look_rows, key=lambda row: (-self.index.score(query_tokens, row), row)), "look_alike")
        if len(chosen) < count:
            named = {i for m in grounding.mentions for i in range(m.start, m.end)}
            topic = [t for i, t in enumerate(query_tokens) if i not in named]
            related = [r for r in self.index.search(topic, 6 * count + 6)
                       if self._safe_for(self.corpus.passages[r], asked)]
            related = [r for r in related if r not in exclude and r not in chosen]
            if related:
                order = rng.permutation(len(related))
                add([related[int(i)] for i in order], "related")
        if len(chosen) < count:
            pool = list(self.index.distractors)
            if len(pool) < 4 * count:  # tiny corpus: unrelated pages too
                pool += [int(r) for r in rng.permutation(len(self.corpus.passages))[: 8 * count + 16]]
            add([pool[int(i)] for i in rng.permutation(len(pool))], "distractor")
        return chosen, (kinds[0] if kinds else "none")

    def _useful_rows(self, grounding: Grounding, query_tokens: list[str], count: int) -> list[int]:
        """Real passages about the mentioned entities, best query overlap first; no mention:
        plain overlap search over the corpus."""
        mentioned = grounding.entity_ids
        if not mentioned:
            return self.index.search(query_tokens, count)
        candidates: set[int] = set()
        for entity_id in mentioned:
            for doc_id in self.corpus.pages.get(entity_id, ()):
                candidates.add(self.index.rows[doc_id])
            facts = self.world.attribute_facts(entity_id) + self.world.relation_facts(entity_id)
            for fact in facts:
                for doc_id in self.corpus.fact_index.get(fact.fact_id, ()):
                    candidates.add(self.index.rows[doc_id])
        mentioned_set = set(mentioned)
        query_set = set(query_tokens)

        def key(row: int) -> tuple[float, int]:
            passage = self.corpus.passages[row]
            # How well the facts this passage states about the mentioned entities match the
            # relation the query asks about ("founded" -> founded_year), then plain overlap.
            relevance = 0
            for fact_id in passage.facts:
                subject, relation, obj = fact_id.split("|", 2)
                if subject in mentioned_set or obj in mentioned_set:
                    relevance = max(relevance, len(query_set & relation_vocabulary(self.world, relation)))
            bonus = 0.5 * len(mentioned_set.intersection(passage.mentions))
            bonus += 1.0 if passage.entity_id in mentioned_set else 0.0
            return (-(3.0 * relevance + self.index.score(query_tokens, row) + bonus), row)

        return sorted(candidates, key=key)[:count]

    def access(self, doc_id: str) -> Passage:
        """A corpus passage by id (raises :class:`UnknownDocumentError` for an unknown id)."""
        if not isinstance(doc_id, str):
            raise UnknownDocumentError(f"unknown document id {shorten(repr(doc_id))}")
        return self.corpus[doc_id]

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """Search ``queries`` in the current context (see :meth:`set_context`)."""
        cleaned = clean_queries(queries)
        return self.search_batch(cleaned, k, [self.context] * len(cleaned))

    def search_batch(self, queries: list[str], k: int,
                     contexts: Sequence[SearchContext | tuple[str | None, int]]) -> list[list[Hit]]:
        raise NotImplementedError

    @staticmethod
    def _contexts(queries: Sequence[str], contexts: Sequence[Any]) -> list[SearchContext]:
        if len(contexts) != len(queries):
            raise ValueError(f"got {len(queries)} queries but {len(contexts)} contexts")
        return [c if isinstance(c, SearchContext) else SearchContext(c[0], int(c[1])) for c in contexts]


# -- template simulator -----------------------------------------------------------------------
class TemplateSimulatedEngine(_SimulatedBase):
    """Grounded ZeroSearch-style simulation without an LLM: real passages, controlled noise.

    Args:
        world, corpus: the world and its aligned corpus.
        noise_prob: probability that a query gets noise (settable; a curriculum raises it).
        seed: mixes into every noise decision and noise sample.
        group_seed: initial GRPO group seed (see :meth:`set_context`).
        docs_per_query: cap on documents per query (default: the ``k`` of each search).
        tasks: a :class:`~searchgym.tasks.TaskSet` (or any ``task_key -> Task`` mapping); with it,
            ``last_calls`` records whether a query's documents contain a gold fact of the task.

    ``last_calls``: one dict per query of the last search: ``query``, ``noisy``, ``noise_kind``
    (``"look_alike"``/``"related"``/``"distractor"``, that of the first document; None if useful),
    ``mentioned`` (entity ids), ``doc_ids``, ``contains_needed_fact`` (bool, or None when the task
    is unknown), ``task_key``, ``group_seed``.
    """

    name = "simulated"

    def __init__(
        self,
        world: World,
        corpus: Corpus,
        *,
        noise_prob: float = 0.0,
        seed: int = 0,
        group_seed: int = 0,
        docs_per_query: int | None = None,
        tasks: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(world, corpus, noise_prob=noise_prob, seed=seed, group_seed=group_seed,
                         docs_per_query=docs_per_query, tasks=tasks, name=name)

    def search_batch(self, queries: list[str], k: int,
                     contexts: Sequence[SearchContext | tuple[str | None, int]]) -> list[list[Hit]]:
        """Like :meth:`search`, with one ``(task_key, group_seed)`` context per query."""
        cleaned = clean_queries(queries)
        k = check_k(k)
        contexts = self._contexts(cleaned, contexts)
        results: list[list[Hit]] = []
        calls: list[dict[str, Any]] = []
        for query, context in zip(cleaned, contexts):
            hits, call = self._one(query, self._count(k), context)
            results.append(hits)
            calls.append(call)
        self.last_calls = calls
        return results

    def _one(self, query: str, count: int, context: SearchContext) -> tuple[list[Hit], dict[str, Any]]:
        call: dict[str, Any] = {"query": query, "noisy": False, "noise_kind": None, "mentioned": [],
                                "doc_ids": [], "contains_needed_fact": None,
                                "task_key": context.task_key, "group_seed": context.group_seed}
        if not query:
            return [], call
        grounding = self.grounder.ground(query)
        tokens = tokenize(query)
        call["mentioned"] = list(grounding.entity_ids)
        useful = self._useful_rows(grounding, tokens, count)
        if self.is_noisy(query, context):
            rng = _rng("noise-docs", self.seed, context.group_seed, context.task_key or "", query)
            rows, kind = self._noise_rows(grounding, tokens, count, rng, exclude=set(useful))
            call["noisy"], call["noise_kind"] = True, kind
        else:
            rows = useful
        hits = [
            Hit(doc_id=p.doc_id, score=1.0 / (rank + 1), title=p.title, text=p.text)
            for rank, p in enumerate(self.corpus.passages[row] for row in rows)
        ]
        call["doc_ids"] = [hit.doc_id for hit in hits]
        needed = self._needed_facts(context)
        if needed is not None:
            stated = {fact for row in rows for fact in self.corpus.passages[row].facts}
            call["contains_needed_fact"] = bool(needed & stated)
        return hits, call

    def useful_documents(self, query: str, k: int) -> list[Passage]:
        """The passages a useful call returns for ``query`` (no noise, no context)."""
        grounding = self.grounder.ground(clean_queries([query])[0])
        rows = self._useful_rows(grounding, tokenize(query), check_k(k))
        return [self.corpus.passages[row] for row in rows]

    def __repr__(self) -> str:
        return (f"TemplateSimulatedEngine({self.world.world_id!r}, noise_prob={self._noise_prob}, "
                f"seed={self.seed}, docs_per_query={self.docs_per_query})")


# -- construction from an env bundle ----------------------------------------------------------
def is_simulated_engine(name: str) -> bool:
    """Whether ``name`` is an engine that :func:`make_simulated_engine` must build."""
    return isinstance(name, str) and name.strip().lower() in SIMULATED_ENGINES


def make_simulated_engine(bundle: Any, name: str, **options: Any) -> SearchEngine:
    """Build a world-aware engine from a :class:`~searchgym.bundle.WorldBundle`.

    ``"simulated"`` -> :class:`TemplateSimulatedEngine`, ``"simulated_llm"`` ->
    :class:`LLMSimulatedEngine`, ``"self"`` -> :class:`~searchgym.search.self_search.SelfSearchEngine`
    (its ``generator`` option: ``"template"`` (default), or a generator spec such as ``"smollm2"``).
    The bundle's tasks are passed so ``last_calls`` can record whether the needed fact was shown.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    options = dict(options)
    if key == "simulated":
        return TemplateSimulatedEngine(bundle.world, bundle.corpus, tasks=bundle.tasks, **options)
    if key == "simulated_llm":
        from searchgym.search.simulated_llm import LLMSimulatedEngine

        return LLMSimulatedEngine(bundle.world, bundle.corpus, options.pop("generator", None),
                                  tasks=bundle.tasks, **options)
    if key == "self":
        from searchgym.search.self_search import make_self_search_engine

        return make_self_search_engine(bundle, **options)
    raise ValueError(f"unknown simulated engine {name!r}; valid: {', '.join(SIMULATED_ENGINES)}")


def _passages_only(name: str) -> Callable[..., SearchEngine]:
    def factory(passages: list[Passage], *, world: World | None = None, **options: Any) -> SearchEngine:
        if world is None:
            raise ValueError(
                f"engine {name!r} simulates search from the world graph: call "
                f"make_engine({name!r}, passages, world=world, ...) or "
                "searchgym.search.simulated.make_simulated_engine(bundle, name, ...)")
        corpus = Corpus(world.world_id, passages)
        if name == "simulated":
            return TemplateSimulatedEngine(world, corpus, **options)
        from searchgym.search.simulated_llm import LLMSimulatedEngine

        return LLMSimulatedEngine(world, corpus, options.pop("generator", None), **options)

    return factory


for _name in ("simulated", "simulated_llm"):
    if _name not in ENGINE_REGISTRY:
        register_engine(_name, _passages_only(_name))


_LLM_NAMES = ("LLMSimulatedEngine", "parse_documents", "zerosearch_prompt", "_ResultCache", "_shared_cache",
              "_shared_generator", "_model_id")


def __getattr__(name: str) -> Any:
    """The LLM simulator's names, from :mod:`searchgym.search.simulated_llm` (imported on first
    use: it imports this module, so it cannot be imported at the top)."""
    if name in _LLM_NAMES:
        from searchgym.search import simulated_llm

        return getattr(simulated_llm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
