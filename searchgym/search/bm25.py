"""Lexical retrieval: bm25s's BM25 scores, ranked by our own compiled kernels.

Why this split: ``bm25s`` precomputes the BM25 score of every (term, passage) pair into a
sparse matrix and saves it as plain ``.npy``/``.json`` files (kept in the
:class:`~searchgym.cache.ArtifactCache`, so a restarted job does not re-index, and loadable by
``bm25s.BM25.load`` itself). Ranking is ours: a lean tokenizer (:mod:`~searchgym.search.lexical`,
bm25s's rules without its per-call progress bars) and compiled kernels over the posting lists
(:mod:`~searchgym.search.bm25_index`: addition for short lists, block-max WAND for long ones), with
scores bit-identical to bm25s's ``get_scores`` and ties broken by corpus order. This module is
the engine around them: text in, :class:`~searchgym.types.Hit` lists out, the cache, threads.

Why not tantivy or PISA as the backend, although both are peers in
``benchmarks/bench_retrieval.py``: their BM25 differs from bm25s's (quantised document lengths
in tantivy, PISA's own stemmer and stopwords), so rankings would change for every user of
``engine="bm25"``, and the numbers in ``benchmarks/RESULTS.md`` show the kernel at or within
reach of both on this project's corpora without that cost (see the "Retrieval peers" section).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import bm25s
import numpy as np

from searchgym.cache import content_hash, stable_json
from searchgym.search.bm25_index import (
    DOMINANT_SHARE,
    SCAN_MIN_SHARE,
    WAND_MAX_SHARE,
    WAND_STEP_COST,
    PackedBatch,
    PostingIndex,
    Scratch,
    check_kernel,
    default_kernel,
    taat_max_postings_for,
)
from searchgym.search.corpus_index import (
    DEFAULT_CACHE,
    CacheArg,
    PassageStore,
    check_k,
    clean_queries,
    clean_query,
    load_or_build_artifact,
    resolve_cache,
)
from searchgym.search.engine_option_values import check_option_values
from searchgym.search.lexical import QueryTokenizer, make_stemmer, tokenize_corpus
from searchgym.types import Hit, Passage

logger = logging.getLogger(__name__)

CACHE_NAMESPACE: Final = "bm25"
_INDEX_SUBDIR: Final = "index"
_DOC_IDS: Final = "doc_ids.json"
_FORMAT: Final = "bm25-v3"  # v3: our tokenizer, no empty token; v2: bm25s tokens renumbered sorted; v1: set order
_STOPWORDS: Final = "en"


def _stemmer_version() -> str:
    try:
        from importlib.metadata import version

        return version("PyStemmer")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


_MAX_DEFAULT_THREADS = 8
_MIN_POSTINGS_PER_THREAD = 100_000
_CHUNKS_PER_THREAD = 4


def default_threads() -> int:
    """The cores this process may use (its CPU affinity), at most 8.

    Why a cap: past a few threads, the Python part of a batch (tokenising, building hits,
    holding the GIL) dominates.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    return max(1, min(_MAX_DEFAULT_THREADS, usable))


def idle_threads() -> int:
    """Threads a batch may use now: the usable cores less the 1-minute load average, plus the
    calling thread (which the load already counts), rounded; at least one.

    Why: on a machine whose cores are busy (other sessions, a trainer's workers), a batch
    split over threads waits for the scheduler and ran slower than on one thread.
    """
    cores = default_threads()
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        return cores
    return max(1, min(cores, int(cores - load + 1.5)))


class BM25Engine:
    """BM25 over ``title + text`` of each passage.

    ``search`` returns only passages that share at least one (stemmed, non-stopword) term with
    the query, best first, ties broken by corpus order: a query of stopwords only, an empty
    query, or a query with no known term gets ``[]`` rather than ``k`` arbitrary zero-score
    passages. Scores are bm25s's (``scores(query)`` gives bm25s's ``get_scores`` over the same
    index). Queries over :data:`~searchgym.search.corpus_index.MAX_QUERY_CHARS` characters are
    truncated. ``k`` larger than the corpus is clipped.

    ``threads`` (default :func:`default_threads`) is how many threads a batch of queries is
    ranked on: a batch whose posting lists hold at least ``min_postings_per_thread`` postings
    per part is split into up to that many parts, ranked in parallel (the kernel releases the
    GIL), and only over cores the machine leaves idle (``yield_to_load``: the usable cores less
    the 1-minute load average, this thread counted back in). One query always runs on the
    calling thread.

    ``kernel`` (default :func:`~searchgym.search.bm25_index.default_kernel`: ``numba``, or
    ``numpy`` where numba is missing or ``$SEARCHGYM_BM25_KERNEL`` says so) is what ranks;
    both give the same hits.

    ``loaded_from_cache`` tells whether the index came from disk (``True``) or was built now.
    """

    def __init__(
        self,
        passages: Iterable[Passage],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
        stemmer: str | None = "english",
        cache: CacheArg = DEFAULT_CACHE,
        show_progress: bool = True,
        threads: int | None = None,
        kernel: str | None = None,
        name: str = "bm25",
    ) -> None:
        check_option_values("bm25", {"k1": k1, "b": b, "method": method, "threads": threads})
        if threads is None:
            threads = default_threads()
        self.threads = threads
        self.kernel = default_kernel() if kernel is None else check_kernel(kernel)
        self.min_postings_per_thread = _MIN_POSTINGS_PER_THREAD
        self.yield_to_load = True
        self.dominant_share = DOMINANT_SHARE
        self.wand_max_share = WAND_MAX_SHARE
        self.wand_step_cost = WAND_STEP_COST
        self.scan_min_share = SCAN_MIN_SHARE
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self._scratch = threading.local()
        self.name = name
        self.store = PassageStore(passages)
        self.k1, self.b, self.method = float(k1), float(b), method
        self.stemmer_name = stemmer
        self.show_progress = show_progress
        self._stemmer = make_stemmer(stemmer)
        self.cache = resolve_cache(cache)
        self.loaded_from_cache = False
        self.index_dir: Path | None = None
        self.index: PostingIndex = self._load_or_build()
        self.taat_max_postings = taat_max_postings_for(self.index.num_docs)  # which method ranks a query
        self._tokenizer = QueryTokenizer(self.index.vocabulary, self._stemmer)

    # -- pickling -----------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the PyStemmer objects (C extension types that cannot be pickled).

        Why pickle at all: Gymnasium's ``AsyncVectorEnv`` and Ray ship env objects (not only
        factories) to workers; the stemmer and tokenizer are rebuilt on the other side, and
        the thread pool on first use.
        """
        state = self.__dict__.copy()
        state["_stemmer"] = state["_tokenizer"] = None
        state["_pool"] = state["_pool_lock"] = state["_scratch"] = None  # threads and locks do not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("wand_max_share", WAND_MAX_SHARE)  # pickled before WAND
        self.__dict__.setdefault("wand_step_cost", WAND_STEP_COST)  # pickled before WAND's sample
        self.__dict__.setdefault("scan_min_share", SCAN_MIN_SHARE)  # pickled before addition's scan
        self._stemmer = make_stemmer(self.stemmer_name)
        self._tokenizer = QueryTokenizer(self.index.vocabulary, self._stemmer)
        self._pool_lock = threading.Lock()
        self._scratch = threading.local()

    # -- construction -------------------------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        """Everything the index depends on besides the corpus: part of the cache key."""
        return {
            "format": _FORMAT,
            "k1": self.k1,
            "b": self.b,
            "method": self.method,
            "stemmer": self.stemmer_name,
            "stopwords": _STOPWORDS,
            "bm25s": bm25s.__version__,
            "pystemmer": _stemmer_version() if self.stemmer_name else None,
        }

    @property
    def cache_key(self) -> str:
        return content_hash(self.store.corpus_hash, stable_json(self.params))

    def _build(self) -> bm25s.BM25:
        texts = self.store.index_texts()
        token_ids, vocabulary = tokenize_corpus(texts, self._stemmer)
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        corpus = bm25s.tokenization.Tokenized(ids=token_ids, vocab={stem: i for i, stem in enumerate(vocabulary)})
        retriever.index(corpus, create_empty_token=False, show_progress=self.show_progress)
        return retriever

    def _load_or_build(self) -> PostingIndex:
        if self.cache is None:
            return PostingIndex.from_bm25s(self._build())

        def build(tmp_dir: Path) -> tuple[PostingIndex, dict[str, Any]]:
            retriever = self._build()
            retriever.save(str(tmp_dir / _INDEX_SUBDIR), show_progress=False)
            doc_ids = self.store.doc_ids
            (tmp_dir / _DOC_IDS).write_text(json.dumps(doc_ids, ensure_ascii=False), encoding="utf-8")
            meta = {"engine": "bm25", "params": self.params, "num_docs": len(doc_ids)}
            return PostingIndex.from_bm25s(retriever), meta

        index, self.index_dir, self.loaded_from_cache = load_or_build_artifact(
            self.cache, CACHE_NAMESPACE, self.cache_key, build, self._load
        )
        return index

    def _load(self, directory: Path) -> PostingIndex:
        retriever = bm25s.BM25.load(str(directory / _INDEX_SUBDIR), load_corpus=False, mmap=False, show_progress=False)
        index = PostingIndex.from_bm25s(retriever)
        doc_ids = json.loads((directory / _DOC_IDS).read_text(encoding="utf-8"))
        if index.num_docs != len(self.store) or doc_ids != self.store.doc_ids:
            raise ValueError(f"index covers {index.num_docs} documents that do not match the corpus")
        return index

    # -- SearchEngine ---------------------------------------------------------------------------

    @property
    def passages(self) -> Sequence[Passage]:
        return self.store.passages

    def access(self, doc_id: str) -> Passage:
        return self.store.access(doc_id)

    def query_terms(self, query: str) -> list[int]:
        """The term ids of one (cleaned) query, repeats included, as bm25s would score them."""
        return self._tokenizer.terms(query)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """Top-``k`` hits for each query, all ranked by one kernel call (or one per thread)."""
        cleaned = clean_queries(queries)
        k = min(check_k(k), len(self.store))
        terms, hits = self._tokenizer.terms, self.store.hits
        found = [terms(query) for query in cleaned]
        if found and all(found):  # the usual case: every query has a known term, no positions to keep
            return [hits(rows, scores) for rows, scores in self._rank(found, k)]
        positions = [position for position, query_terms in enumerate(found) if query_terms]
        results: list[list[Hit]] = [[] for _ in cleaned]
        if positions:
            ranked = self._rank([found[position] for position in positions], k)
            for position, (rows, scores) in zip(positions, ranked):
                results[position] = hits(rows, scores)
        return results

    def _rank(self, batch: list[list[int]], k: int) -> list[tuple[list[int], list[float]]]:
        """Rank a batch of term lists: packed once, then ranked on up to ``threads`` threads at
        once, this one included (the kernels release the GIL).

        A batch is split only when it holds at least ``min_postings_per_thread`` postings per
        thread (100k: below that, handing work to threads costs more than it saves) and only
        over idle cores (:func:`idle_threads`). Measured with ``benchmarks/bench_retrieval.py``
        on 10k passages, batches of 64: on a quiet machine two threads beat PISA's two (0.83 of
        its time on questions, was 1.35 with one thread), while at load 2.8 a split batch ran
        slower than one thread. It is cut into
        :data:`_CHUNKS_PER_THREAD` chunks per thread, of about equal postings, which the threads
        take in turn: on a loaded machine a thread the scheduler pauses holds up at most one
        chunk, not half the batch.
        """
        index = self.index
        packed = index.pack(batch, k, self._thread_scratch())
        size = len(packed)
        threads = 1
        if self.threads > 1 and size > 1:
            before = packed.postings_before(index)
            threads = int(min(self.threads, size, before[-1] // max(1, self.min_postings_per_thread)))
            if threads > 1 and self.yield_to_load:
                threads = min(threads, idle_threads())
        if threads <= 1:
            self._rank_range(packed, 0, size)
            return packed.results()
        chunks = min(size, threads * _CHUNKS_PER_THREAD)
        cuts = np.searchsorted(before, np.linspace(0, before[-1], chunks + 1)[1:-1]).tolist()
        ranges = [(start, stop) for start, stop in itertools.pairwise([0, *cuts, size]) if stop > start]
        queue = iter(ranges)  # next() on it is atomic under the GIL

        def work() -> None:
            for start, stop in queue:
                self._rank_range(packed, start, stop)

        pool = self._thread_pool()
        helpers = [pool.submit(work) for _ in range(threads - 1)]
        work()
        for helper in helpers:
            helper.result()
        return packed.results()

    def _rank_range(self, packed: PackedBatch, start: int, stop: int) -> None:
        self.index.rank(
            packed,
            start,
            stop,
            self._thread_scratch(),
            self.kernel,
            self.taat_max_postings,
            self.dominant_share,
            self.wand_max_share,
            self.wand_step_cost,
            self.scan_min_share,
        )

    def _thread_scratch(self) -> Scratch:
        """This thread's kernel scratch (made on its first ranking)."""
        scratch = getattr(self._scratch, "arrays", None)
        if scratch is None:
            scratch = self._scratch.arrays = Scratch(self.index.num_docs)
        return scratch

    def _thread_pool(self) -> ThreadPoolExecutor:
        """The ranking threads, started on first use in this process.

        A forked child (``AsyncVectorEnv``, multiprocessing) inherits the pool object but not
        its threads, so a pool made by another process id is replaced, never waited on.
        """
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=f"searchgym-{self.name}")
                self._pool_pid = os.getpid()
            return self._pool

    def close(self) -> None:
        """Stop the ranking threads (they are restarted if the engine is used again)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def scores(self, query: str) -> np.ndarray:
        """bm25s's ``get_scores`` of every passage for one query, over this index (diagnostics
        and tests: the reference the kernel's ranking is checked against)."""
        index = self.index
        terms = np.asarray(self.query_terms(clean_query(query)), dtype=np.int32)
        if not len(terms):
            return np.zeros(len(self.store), dtype=np.float32)
        scores = bm25s.BM25._compute_relevance_from_scores(
            index.scores, index.indptr, index.docs, index.num_docs, terms, np.dtype(np.float32)
        )
        if index.nonoccurrence is not None:
            scores += index.nonoccurrence[terms].sum()
        return scores

    def __repr__(self) -> str:
        return f"BM25Engine(n={len(self.store)}, method={self.method!r}, k1={self.k1}, b={self.b})"
