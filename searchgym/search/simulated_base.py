"""What every simulated engine shares: the episode context, the noise decision, the overlap
index, corpus access, ``last_calls`` and snapshots.

Why a module of its own: the template simulator (:mod:`searchgym.search.simulated`), the LLM
simulator (:mod:`searchgym.search.simulated_llm`) and self-search all build on these pieces, and
none of them may import another engine's module for them (that was an import circle).

Useful vs. noisy is decided per query by hashing ``(seed, group_seed, task_key, query)`` — not a
global RNG — against ``noise_prob`` (a settable attribute a curriculum can raise). Raising
``noise_prob`` only ever adds noisy queries. ``set_context(task_key, group_seed)`` tells the
engine which task and GRPO group is running; ``search_batch`` takes one context per query so a
vector env can batch the searches of several sub-envs in one call. Heavy parts (the grounder,
the overlap index) are shared in the process and dropped when an engine is pickled.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from searchgym.cache import content_hash
from searchgym.corpus.corpus import Corpus
from searchgym.search.base import UnknownDocumentError
from searchgym.search.corpus_index import check_k, clean_queries, shorten
from searchgym.search.engine_option_values import check_option_values
from searchgym.search.grounding import (
    Grounder,
    Grounding,
    get_grounder,
    relation_vocabulary,
    tokenize,
)
from searchgym.types import Hit, Passage, Task
from searchgym.world.world import World

__all__ = ["GENERATED_TITLE", "SIM_ID_PREFIX", "SearchContext", "SimulatedEngineBase", "noise_draw"]

SIM_ID_PREFIX = "sim:"
GENERATED_TITLE = "Search result"


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
    check_option_values("simulated", {"noise_prob": value})
    return float(value)


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


class SimulatedEngineBase:
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
        return {
            "context": self.context,
            "noise_prob": self._noise_prob,
            "last_calls": [dict(call) for call in self.last_calls],
        }

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

    def _noise_rows(
        self, grounding: Grounding, query_tokens: list[str], count: int, rng: np.random.Generator, exclude: set[int]
    ) -> tuple[list[int], str]:
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

        look_rows = [
            self.index.rows[doc_id] for other in grounding.look_alikes for doc_id in self.corpus.pages.get(other, ())
        ]
        add(sorted(look_rows, key=lambda row: (-self.index.score(query_tokens, row), row)), "look_alike")
        if len(chosen) < count:
            named = {i for m in grounding.mentions for i in range(m.start, m.end)}
            topic = [t for i, t in enumerate(query_tokens) if i not in named]
            related = [
                r for r in self.index.search(topic, 6 * count + 6) if self._safe_for(self.corpus.passages[r], asked)
            ]
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

    def search_batch(
        self, queries: list[str], k: int, contexts: Sequence[SearchContext | tuple[str | None, int]]
    ) -> list[list[Hit]]:
        raise NotImplementedError

    @staticmethod
    def _contexts(queries: Sequence[str], contexts: Sequence[Any]) -> list[SearchContext]:
        if len(contexts) != len(queries):
            raise ValueError(f"got {len(queries)} queries but {len(contexts)} contexts")
        return [c if isinstance(c, SearchContext) else SearchContext(c[0], int(c[1])) for c in contexts]
