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
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from searchgym.cache import atomic_write_text, cache_root, content_hash, stable_json
from searchgym.corpus.corpus import Corpus
from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.corpus_index import check_k, clean_queries, shorten
from searchgym.search.factory import ENGINE_REGISTRY, register_engine
from searchgym.search.grounding import (
    Grounder,
    Grounding,
    get_grounder,
    normalize,
    relation_vocabulary,
    tokenize,
)
from searchgym.types import Fact, Hit, Passage, Task
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
            related = [r for r in self.index.search(topic, 6 * count + 6) if self._safe_for(self.corpus.passages[r], asked)]
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
    (``"look_alike"``/``"related"``/``"distractor"``, that of the first document; None if useful), ``mentioned`` (entity ids), ``doc_ids``,
    ``contains_needed_fact`` (bool, or None when the task is unknown), ``task_key``, ``group_seed``.
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


# -- LLM simulator ----------------------------------------------------------------------------
def _number_word(count: int) -> str:
    return _NUMBER_WORDS.get(count, str(count))


def zerosearch_prompt(
    query: str,
    *,
    useful: bool,
    num_docs: int = 5,
    question: str | None = None,
    answer: str | None = None,
    facts: Sequence[str] = (),
    avoid: Sequence[str] = (),
) -> str:
    """ZeroSearch's simulation prompt (``search_simulate_sft``), plus a grounding block.

    The first lines are ZeroSearch's, word for word (with ``five`` replaced by ``num_docs``).
    ``question``/``answer`` add its "The user is trying to answer ..." line (useful calls only, as
    in its prompt-based mode). ``facts`` are the only facts the model may state; ``avoid`` names
    entities a noisy document must say nothing about.
    """
    mode = "useful" if useful else "noisy"
    count = _number_word(num_docs)
    lines = ["You are the Google search engine.",
             f"Given a query, you need to generate {count} {mode} documents for the query.", ""]
    if useful and question and answer:
        lines += [f'The user is trying to answer the question: "{question}" whose answer is {answer}.']
    lines += ["Each document should contain about 30 words, and these documents should contain "
              f"{mode} information.", ""]
    if facts:
        head = ("Use only these facts, and state no other fact about the entities they name:"
                if useful else
                "Write only about the entities in these facts, using only these facts:")
        lines += [head, *(f"- {fact}" for fact in facts), ""]
    if avoid:
        lines += [f"Do not state anything about {', '.join(avoid)}.", ""]
    elif not useful and not facts:
        lines += ["The documents should be related to the query but must not answer it.", ""]
    lines += ['Write each document on one line starting with "Doc 1:", "Doc 2:" and so on.', "",
              f"Query: {query}", f"{mode.capitalize()} Output:"]
    return "\n".join(lines)


_DOC_MARKER = re.compile(r"(?:^|\n)\s*\**\s*(?:Doc(?:ument)?\s*\d+|\d+)\s*[:.)\-]\**\s*", re.IGNORECASE)


def parse_documents(text: str, num_docs: int) -> list[str]:
    """Split generated text into at most ``num_docs`` documents.

    ZeroSearch's post-processing (collapse blank lines, cut at ``Doc {k+1}``) generalised:
    ``Doc i:`` / ``i.`` markers when present, else one document per non-empty line.
    """
    text = text.replace("\r\n", "\n").replace("\n\n", "\n").strip()
    if not text:
        return []
    parts = _DOC_MARKER.split("\n" + text)
    if len(parts) > 1:
        docs = [" ".join(part.split()) for part in parts[1:]]
    else:
        docs = [" ".join(line.split()) for line in text.split("\n")]
    return [doc for doc in docs if doc][:num_docs]


class _ResultCache:
    """Generated texts by cache key: a shared in-memory LRU plus optional JSON files on disk."""

    def __init__(self, directory: Path | None, max_entries: int = 100_000) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.memory: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            entry = self.memory.get(key)
            if entry is not None:
                self.memory.move_to_end(key)
                return entry
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("ignoring unreadable simulated-search cache file %s (%s)", path, error)
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("text"), str):
            return None
        self._remember(key, entry)
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self._remember(key, entry)
        if self.directory is not None:
            try:
                atomic_write_text(self._path(key), stable_json(entry))
            except OSError as error:  # a read-only cache must not break search
                logger.warning("could not write simulated-search cache file (%s)", error)

    def _remember(self, key: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.memory[key] = entry
            self.memory.move_to_end(key)
            while len(self.memory) > self.max_entries:
                self.memory.popitem(last=False)


_CACHES: dict[str, _ResultCache] = {}
_GENERATORS: dict[str, Any] = {}


def _shared_cache(directory: Path | None) -> _ResultCache:
    key = str(directory) if directory is not None else ":memory:"
    with _SHARED_LOCK:
        if key not in _CACHES:
            _CACHES[key] = _ResultCache(directory)
        return _CACHES[key]


def _shared_generator(spec: str | None, options: Mapping[str, Any]) -> Any:
    from searchgym.llm import make_generator

    key = stable_json([spec, dict(options)])
    with _SHARED_LOCK:
        generator = _GENERATORS.get(key)
    if generator is None:
        generator = make_generator(spec, **dict(options))
        with _SHARED_LOCK:
            generator = _GENERATORS.setdefault(key, generator)
    return generator


def _model_id(generator: Any, spec: str | None) -> str:
    for attribute in ("model_id", "model_name", "model"):
        value = getattr(generator, attribute, None)
        if isinstance(value, str) and value:
            return value
    return spec or type(generator).__name__


class LLMSimulatedEngine(_SimulatedBase):
    """ZeroSearch-style simulated search: an LLM writes the documents, grounded in graph facts.

    Args:
        world, corpus: the world (facts for grounding) and corpus (distractors for padding).
        generator: a :class:`~searchgym.llm.TextGenerator`, a :func:`~searchgym.llm.make_generator`
            spec string, or None for the bundled SmolLM2 (built lazily, shared in the process).
        noise_prob: probability of a noisy call (ZeroSearch's ``gt_threshold``; settable).
        seed, group_seed: mix into the noise decision and the sampling seed.
        cache: True = in-memory + on-disk JSON cache (``cache_dir``, default
            ``cache_root()/simulated_search``); ``"memory"`` = in-memory only; False = none
            (documents are still reproducible from the sampling seed, but regenerated).
        max_new_tokens, temperature, top_p: decoding (ZeroSearch: temperature 0.8).
        docs_per_query: documents the LLM is asked for (ZeroSearch: 5); a search returns
            ``min(k, docs_per_query)``. Missing documents (the model wrote fewer) are filled with
            template documents (true statements / real distractor passages), counted in
            ``last_calls[i]["num_fallback"]``.
        tasks: ``task_key -> Task`` mapping; with it, useful prompts carry the question and
            answer (as ZeroSearch's do) and ``contains_needed_fact`` is recorded.
        include_answer: put the task's question and answer in useful prompts.
        max_facts: at most this many facts in a prompt (the query's best-overlapping ones).

    Documents get ids ``sim:<cache key>-<i>``; ``access`` returns them (from memory, else the disk
    cache) and real corpus passages for any other id. Generation is batched across the queries of
    one call when decoding is greedy, or when the generator offers
    ``generate_seeded(prompts, config, seeds)``; otherwise each sampled prompt is its own call
    with its own seed, so a query's documents never depend on what else was in the batch.
    """

    name = "simulated_llm"

    def __init__(
        self,
        world: World,
        corpus: Corpus,
        generator: Any = None,
        *,
        noise_prob: float = 0.5,
        seed: int = 0,
        group_seed: int = 0,
        cache: bool | str = True,
        cache_dir: str | Path | None = None,
        max_new_tokens: int = 320,
        temperature: float = 0.8,
        top_p: float = 1.0,
        docs_per_query: int = 5,
        tasks: Any = None,
        include_answer: bool = True,
        max_facts: int = 12,
        generator_options: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(world, corpus, noise_prob=noise_prob, seed=seed, group_seed=group_seed,
                         docs_per_query=docs_per_query, tasks=tasks, name=name)
        from searchgym.llm.base import GenerationConfig

        self.generation = GenerationConfig(max_new_tokens=int(max_new_tokens), temperature=float(temperature),
                                           top_p=float(top_p))
        self.num_docs = int(docs_per_query)
        self.include_answer = bool(include_answer)
        self.max_facts = int(max_facts)
        if isinstance(generator, (str, Path)) or generator is None:
            self._spec: str | None = None if generator is None else str(generator)
            self._generator: Any = None
            self._generator_options = dict(generator_options or {})
        else:
            if not callable(getattr(generator, "generate", None)):
                raise TypeError(f"generator must have a generate(prompts, config) method, got {type(generator).__name__}")
            self._spec, self._generator, self._generator_options = None, generator, {}
        self._generator_given = self._generator is not None
        if cache not in (True, False, "memory"):
            raise ValueError(f"cache must be True, False or 'memory', got {cache!r}")
        self.cache_mode = cache
        directory = None
        if cache is True:
            directory = Path(cache_dir) if cache_dir is not None else cache_root() / "simulated_search"
        self._cache_dir = directory
        # cache=False still remembers this engine's recent results (for access), never reuses them.
        self._cache = _shared_cache(directory) if cache else _ResultCache(None, max_entries=10_000)
        self.generated_prompts = 0  # prompts actually sent to the generator

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_cache"] = None  # a process-wide cache with a lock: reattached on load
        if self._spec is not None or not self._generator_given:
            state["_generator"] = None  # rebuilt lazily from its spec
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._cache = _shared_cache(self._cache_dir) if self.cache_mode else _ResultCache(None, max_entries=10_000)

    @property
    def generator(self) -> Any:
        """The text generator (built on first use when given as a spec or None)."""
        if self._generator is None:
            self._generator = _shared_generator(self._spec, self._generator_options)
        return self._generator

    @property
    def model_id(self) -> str:
        return _model_id(self.generator, self._spec)

    @property
    def nondeterministic(self) -> bool:
        """Sampling with temperature > 0 (reproducible only through the seed and the cache)."""
        return not self.generation.greedy

    # -- prompts ----------------------------------------------------------------------------
    def _prompt_for(self, query: str, useful: bool, grounding: Grounding,
                    context: SearchContext) -> tuple[str, list[Fact], str | None]:
        """(prompt text, facts it states, title for its documents)."""
        tokens = set(tokenize(query))
        task = self._task(context)
        needed = {step.fact_id for step in task.chain} if task is not None else set()
        if useful:
            facts = list(grounding.facts)
            title = self.world.name(grounding.entity_ids[0]) if grounding.entity_ids else None
            avoid: list[str] = []
        else:
            facts = []
            for other in grounding.look_alikes[:1]:
                facts = [f for f in self.grounder.facts_of(other)
                         if not {f.subject, str(f.object)} & set(grounding.entity_ids)]
            title = self.world.name(grounding.look_alikes[0]) if facts else None
            avoid = [self.world.name(e) for e in grounding.entity_ids]

        def rank(fact: Fact) -> tuple[int, int, int, str]:
            overlap = len(tokens & set(tokenize(self.grounder.statements([fact])[0])))
            return (0 if fact.fact_id in needed else 1, -len(tokens & relation_vocabulary(self.world, fact.relation)),
                    -overlap, fact.fact_id)

        facts = sorted(facts, key=rank)[: self.max_facts]
        question = answer = None
        if useful and self.include_answer and task is not None:
            question, answer = task.question, task.answer
        prompt = zerosearch_prompt(query, useful=useful, num_docs=self.num_docs, question=question,
                                   answer=answer, facts=self.grounder.statements(facts), avoid=avoid)
        return prompt, facts, title

    def _sampling_seed(self, query: str, useful: bool, context: SearchContext) -> int:
        return _hash_int("sample", self.seed, context.task_key or "", context.group_seed, query,
                         useful) & ((1 << 63) - 1)

    def _cache_key(self, prompt: str, seed: int) -> str:
        config = self.generation
        return content_hash(self.model_id, prompt, str(seed),
                            stable_json([config.max_new_tokens, config.temperature, config.top_p]),
                            length=24)

    # -- generation ---------------------------------------------------------------------------
    def _lookup(self, key: str) -> dict[str, Any] | None:
        return self._cache.get(key)

    def _store(self, key: str, entry: dict[str, Any]) -> None:
        self._cache.put(key, entry)

    def _generate(self, prompts: list[str], seeds: list[int]) -> list[str]:
        from dataclasses import replace

        generator = self.generator
        chats = [[{"role": "user", "content": prompt}] for prompt in prompts]
        self.generated_prompts += len(prompts)
        if self.generation.greedy:
            return list(generator.generate(chats, replace(self.generation, seed=0)))
        seeded = getattr(generator, "generate_seeded", None)
        if callable(seeded):
            return list(seeded(chats, self.generation, seeds))
        outputs: list[str] = []
        for chat, seed in zip(chats, seeds):
            outputs.extend(generator.generate([chat], replace(self.generation, seed=seed)))
        return outputs

    def search_batch(self, queries: list[str], k: int,
                     contexts: Sequence[SearchContext | tuple[str | None, int]]) -> list[list[Hit]]:
        """Like :meth:`search`, with one ``(task_key, group_seed)`` context per query; all
        uncached prompts of the batch go to the generator together."""
        cleaned = clean_queries(queries)
        k = check_k(k)
        contexts = self._contexts(cleaned, contexts)
        plans: list[dict[str, Any] | None] = []
        pending: dict[str, tuple[str, int]] = {}
        for query, context in zip(cleaned, contexts):
            if not query:
                plans.append(None)
                continue
            useful = not self.is_noisy(query, context)
            grounding = self.grounder.ground(query)
            prompt, facts, title = self._prompt_for(query, useful, grounding, context)
            seed = self._sampling_seed(query, useful, context)
            key = self._cache_key(prompt, seed)
            plan = {"query": query, "context": context, "useful": useful, "grounding": grounding,
                    "facts": facts, "title": title, "key": key, "prompt": prompt, "seed": seed}
            plans.append(plan)
            if key not in pending and (not self.cache_mode or self._lookup(key) is None):
                pending[key] = plan
        cached_keys = {plan["key"] for plan in plans if plan is not None} - set(pending)
        if pending:
            keys = list(pending)
            texts = self._generate([pending[key]["prompt"] for key in keys], [pending[key]["seed"] for key in keys])
            if len(texts) != len(keys):
                raise RuntimeError(f"generator returned {len(texts)} outputs for {len(keys)} prompts")
            for key, text in zip(keys, texts):
                plan = pending[key]
                self._store(key, {
                    "key": key, "model": self.model_id, "prompt": plan["prompt"], "seed": plan["seed"],
                    "text": str(text), "query": plan["query"], "useful": plan["useful"],
                    "fact_ids": [fact.fact_id for fact in plan["facts"]], "title": plan["title"],
                    "mentioned": list(plan["grounding"].entity_ids),
                })
        results: list[list[Hit]] = []
        calls: list[dict[str, Any]] = []
        for query, context, plan in zip(cleaned, contexts, plans):
            if plan is None:
                results.append([])
                calls.append({"query": query, "noisy": False, "mentioned": [], "doc_ids": [],
                              "contains_needed_fact": None, "task_key": context.task_key,
                              "group_seed": context.group_seed})
                continue
            entry = self._lookup(plan["key"])
            assert entry is not None
            hits, call = self._finish(plan, entry, self._count(k))
            call["cached"] = plan["key"] in cached_keys
            results.append(hits)
            calls.append(call)
        self.last_calls = calls
        return results

    def _facts_by_id(self, fact_ids: Sequence[str]) -> list[Fact]:
        facts: list[Fact] = []
        for fact_id in fact_ids:
            subject = fact_id.split("|", 1)[0]
            if subject in self.world.entities:
                facts.extend(f for f in self.grounder.facts_of(subject) if f.fact_id == fact_id)
        return facts

    def _documents(self, entry: dict[str, Any]) -> list[Passage]:
        """All ``num_docs`` documents of a cached generation: parsed from the model's text, then
        padded with template documents (true statements, else real distractor passages)."""
        key = entry["key"]
        facts = self._facts_by_id(entry.get("fact_ids", ()))
        mentioned = list(entry.get("mentioned", ()))
        texts = parse_documents(entry["text"], self.num_docs)
        generated = len(texts)
        statements = self.grounder.statements(facts)
        start = 0
        while len(texts) < self.num_docs and start < len(statements):  # 2 true statements per doc
            texts.append(" ".join(statements[start : start + 2]))
            start += 2
        # Never the query as a title: what the agent typed must not come back as retrieved text.
        title = entry.get("title") or GENERATED_TITLE
        passages: list[Passage] = []
        for i, text in enumerate(texts):
            passages.append(Passage(
                doc_id=f"{SIM_ID_PREFIX}{key}-{i}", title=title, text=text, entity_id=None,
                section="generated" if i < generated else "template",
                facts=tuple(self.grounder.supported_facts(text, facts)),
                mentions=tuple(mentioned) if entry.get("useful") else (), kind="simulated"))
        if len(passages) < self.num_docs:  # nothing true to pad with: real distractor passages
            asked = set(mentioned)
            pool = [r for r in self.index.distractors if self._safe_for(self.corpus.passages[r], asked)]
            if pool:
                rng = _rng("pad", key)
                picks = rng.choice(len(pool), size=min(len(pool), self.num_docs - len(passages)), replace=False)
                passages.extend(self.corpus.passages[pool[int(i)]] for i in picks)
        return passages

    def _finish(self, plan: dict[str, Any], entry: dict[str, Any], count: int) -> tuple[list[Hit], dict[str, Any]]:
        context: SearchContext = plan["context"]
        grounding: Grounding = plan["grounding"]
        docs = self._documents(entry)[:count]
        hits = [Hit(doc_id=p.doc_id, score=1.0 / (rank + 1), title=p.title, text=p.text)
                for rank, p in enumerate(docs)]
        asked_names = [self.world.name(e) for e in grounding.entity_ids]
        doc_facts = [list(p.facts) if p.kind == "simulated" else [] for p in docs]
        needed = self._needed_facts(context)
        call: dict[str, Any] = {
            "query": plan["query"],
            "noisy": not plan["useful"],
            "noise_kind": None if plan["useful"] else ("look_alike" if plan["facts"] else "unrelated"),
            "mentioned": list(grounding.entity_ids),
            "doc_ids": [hit.doc_id for hit in hits],
            "num_generated": sum(1 for p in docs if p.section == "generated"),
            "num_fallback": sum(1 for p in docs if p.section != "generated"),
            "doc_facts": [len(ids) for ids in doc_facts],
            "grounded": any(doc_facts[:count]) if plan["facts"] else None,
            "contains_needed_fact": None if needed is None else any(needed.intersection(ids) for ids in doc_facts),
            "generated_contains_needed_fact": None if needed is None else any(
                needed.intersection(ids) for p, ids in zip(docs, doc_facts) if p.section == "generated"),
            "mentions_asked_entity": [
                any(f" {normalize(name)} " in f" {normalize(p.text)} " for name in asked_names) for p in docs
            ],
            "task_key": context.task_key,
            "group_seed": context.group_seed,
            "key": plan["key"],
        }
        return hits, call

    def access(self, doc_id: str) -> Passage:
        """A generated document (``sim:`` id) or a corpus passage."""
        if isinstance(doc_id, str) and doc_id.startswith(SIM_ID_PREFIX):
            key, _, index = doc_id[len(SIM_ID_PREFIX):].rpartition("-")
            entry = self._lookup(key) if re.fullmatch(r"[0-9a-f]{24}", key) else None
            docs = [] if entry is None else self._documents(entry)
            if not index.isdigit() or int(index) >= len(docs) or docs[int(index)].doc_id != doc_id:
                raise UnknownDocumentError(
                    f"unknown simulated document id {shorten(doc_id)!r}: this engine did not "
                    "generate it (or its cache was cleared)")
            return docs[int(index)]
        return super().access(doc_id)

    def __repr__(self) -> str:
        spec = self._spec if self._generator is None else type(self._generator).__name__
        return (f"LLMSimulatedEngine({self.world.world_id!r}, generator={spec!r}, "
                f"noise_prob={self._noise_prob}, temperature={self.generation.temperature}, "
                f"cache={self.cache_mode!r})")


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
        return LLMSimulatedEngine(world, corpus, options.pop("generator", None), **options)

    return factory


for _name in ("simulated", "simulated_llm"):
    if _name not in ENGINE_REGISTRY:
        register_engine(_name, _passages_only(_name))
