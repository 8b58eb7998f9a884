"""Lexical retrieval: bm25s's BM25 scores, ranked by our own MaxScore kernel.

Why this split: ``bm25s`` precomputes the BM25 score of every (term, passage) pair into a
sparse matrix and saves it as plain ``.npy``/``.json`` files (kept in the
:class:`~searchgym.cache.ArtifactCache`, so a restarted job does not re-index, and loadable by
``bm25s.BM25.load`` itself). Ranking is ours: a lean tokenizer (:mod:`~searchgym.search.lexical`,
bm25s's rules without its per-call progress bars) and a compiled document-at-a-time MaxScore
kernel (:mod:`~searchgym.search.bm25_kernel`) that skips passages which cannot reach the top k,
with scores bit-identical to bm25s's ``get_scores`` and ties broken by corpus order.

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
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import bm25s
import numpy as np

from searchgym.cache import content_hash, stable_json
from searchgym.search import bm25_bounds, bm25_kernel
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
from searchgym.search.lexical import QueryTokenizer, make_stemmer, tokenize_corpus
from searchgym.types import Hit, Passage

logger = logging.getLogger(__name__)

CACHE_NAMESPACE: Final = "bm25"
_INDEX_SUBDIR: Final = "index"
_DOC_IDS: Final = "doc_ids.json"
_FORMAT: Final = "bm25-v3"  # v3: our tokenizer, no empty token; v2: bm25s tokens renumbered sorted; v1: set order
_STOPWORDS: Final = "en"
_METHODS: Final = ("robertson", "lucene", "atire", "bm25l", "bm25+")


def _stemmer_version() -> str:
    try:
        from importlib.metadata import version

        return version("PyStemmer")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


_MAX_DEFAULT_THREADS = 8
_MIN_POSTINGS_PER_THREAD = 1_000_000


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


@dataclass(frozen=True)
class PostingIndex:
    """bm25s's term-major score matrix plus what the kernel needs per term.

    ``docs[indptr[t]:indptr[t + 1]]`` are the rows (ascending) of the passages containing
    term ``t`` and ``scores[...]`` their BM25 scores for it; ``min_scores`` tells which terms
    can score a passage at or below zero; ``block_*``, ``top_rows`` and ``rest_max`` are the
    kernel's pruning data (:mod:`~searchgym.search.bm25_kernel`); ``nonoccurrence`` is bm25s's
    per-term score of passages *without* the term (``bm25l`` and ``bm25+`` only, else ``None``).
    """

    indptr: np.ndarray
    docs: np.ndarray
    scores: np.ndarray
    min_scores: np.ndarray
    nonoccurrence: np.ndarray | None
    vocabulary: tuple[str, ...]
    num_docs: int
    block_ptr: np.ndarray
    block_max: np.ndarray
    block_last: np.ndarray
    top_rows: np.ndarray
    rest_max: np.ndarray

    @classmethod
    def from_bm25s(cls, retriever: bm25s.BM25) -> PostingIndex:
        scores = retriever.scores
        indptr = np.ascontiguousarray(scores["indptr"], dtype=np.int64)
        docs = np.ascontiguousarray(scores["indices"], dtype=np.int32)
        data = np.ascontiguousarray(scores["data"], dtype=np.float32)
        lengths = np.diff(indptr)
        within = np.ones(max(0, len(docs) - 1), dtype=bool)  # pairs inside one posting list
        boundaries = indptr[1:-1] - 1
        within[boundaries[(boundaries >= 0) & (boundaries < len(within))]] = False
        if not (np.diff(docs)[within] > 0).all():
            raise ValueError("posting lists are not sorted by row")
        min_scores = np.ones(len(lengths), dtype=np.float32)
        present = lengths > 0
        if present.any():
            min_scores[present] = np.minimum.reduceat(data, indptr[:-1][present])
        vocabulary = [""] * len(retriever.vocab_dict)
        for stem, term in retriever.vocab_dict.items():
            vocabulary[term] = stem
        if len(vocabulary) != len(lengths):
            raise ValueError(f"vocabulary of {len(vocabulary)} terms for {len(lengths)} posting lists")
        nonoccurrence = retriever.nonoccurrence_array
        return cls(indptr, docs, data, min_scores,
                   None if nonoccurrence is None else np.asarray(nonoccurrence, dtype=np.float32),
                   tuple(vocabulary), int(scores["num_docs"]), *bm25_bounds.build_blocks(indptr, docs, data),
                   *bm25_bounds.build_top_rows(indptr, data, docs, bm25_bounds.TOP_ROWS))

    @cached_property
    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                     np.ndarray, np.ndarray, np.ndarray, int]:
        """The leading arguments of :func:`~searchgym.search.bm25_kernel.top_k_batch`."""
        return (self.indptr, self.docs, self.scores, self.rest_max, self.min_scores, self.block_ptr,
                self.block_max, self.block_last, self.top_rows, self.num_docs)

    def postings(self, terms: np.ndarray) -> int:
        return int((self.indptr[terms + 1] - self.indptr[terms]).sum())


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
    GIL). One query always runs on the calling thread.

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
        name: str = "bm25",
    ) -> None:
        if method not in _METHODS:
            raise ValueError(f"unknown BM25 method {method!r}; valid: {', '.join(_METHODS)}")
        if threads is None:
            threads = default_threads()
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        self.threads = threads
        self.min_postings_per_thread = _MIN_POSTINGS_PER_THREAD
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
        retriever = bm25s.BM25.load(
            str(directory / _INDEX_SUBDIR), load_corpus=False, mmap=False, show_progress=False
        )
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
        terms = self._tokenizer.terms
        found = [terms(query) for query in cleaned]
        positions = [position for position, query_terms in enumerate(found) if query_terms]
        results: list[list[Hit]] = [[] for _ in cleaned]
        if not positions:
            return results
        hits = self.store.hits
        ranked = self._rank([found[position] for position in positions], k)
        for position, (rows, scores) in zip(positions, ranked):
            results[position] = hits(rows, scores)
        return results

    def _rank(self, batch: list[list[int]], k: int) -> list[tuple[list[int], list[float]]]:
        """Rank a batch, split into up to ``threads`` contiguous parts ranked in parallel.

        Only batches with at least ``min_postings_per_thread`` postings per part are split:
        below that, handing work to threads costs more than it saves. Measured on the shared
        2-core machine (median of 5): 64 questions over 11k passages (435k postings) ranked in
        0.37 ms per query on one thread and 0.48 on two, a straggling thread holding up the
        batch; over 101k passages (3.6M postings) in 1.14 on one and 0.71 on two.
        """
        if self.threads <= 1 or len(batch) <= 1:
            return self._rank_serial(batch, k)
        terms = np.fromiter(itertools.chain.from_iterable(batch), dtype=np.int64)
        postings = self.index.postings(terms)
        parts = min(self.threads, len(batch), postings // max(1, self.min_postings_per_thread))
        if parts <= 1:
            return self._rank_serial(batch, k)
        bounds = np.linspace(0, len(batch), parts + 1).round().astype(int)
        chunks = [batch[start:end] for start, end in itertools.pairwise(bounds)]
        ranked: list[tuple[list[int], list[float]]] = []
        for part in self._thread_pool().map(lambda chunk: self._rank_serial(chunk, k), chunks):
            ranked.extend(part)
        return ranked

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

    def _rank_serial(self, batch: list[list[int]], k: int) -> list[tuple[list[int], list[float]]]:
        """``(rows, scores)`` best first for each query of ``batch`` (non-empty term lists),
        from one kernel call. Kept lean: a name query's whole ranking takes a few µs, so numpy
        set-up would show (one query reuses this thread's output buffers)."""
        index = self.index
        size = len(batch)
        if size == 1:
            terms = np.array(batch[0], dtype=np.int64)
            offsets = np.array((0, len(terms)), dtype=np.int64)
            out_scores, out_rows, counts, no_extra = self._single_buffers(k)
        else:
            offsets = np.zeros(size + 1, dtype=np.int64)
            np.cumsum([len(found) for found in batch], out=offsets[1:])
            terms = np.fromiter(itertools.chain.from_iterable(batch), dtype=np.int64, count=int(offsets[-1]))
            out_scores = np.empty((size, k), dtype=np.float32)
            out_rows = np.empty((size, k), dtype=np.int64)
            counts = np.empty(size, dtype=np.int64)
            no_extra = np.zeros(size, dtype=np.float32)
        nonoccurrence = index.nonoccurrence
        every_row = nonoccurrence is not None
        if nonoccurrence is not None:  # bm25s adds ``nonoccurrence[terms].sum()`` (numpy's float32 sum) to all
            extra = np.array([nonoccurrence[terms[a:b]].sum() for a, b in itertools.pairwise(offsets)],
                             dtype=np.float32)
        else:
            extra = no_extra
        bm25_kernel.top_k_batch(*index.kernel_arrays, terms, offsets, k, extra, every_row, out_scores, out_rows, counts)
        rows, scores = out_rows.tolist(), out_scores.tolist()
        return [(rows[i][:n], scores[i][:n]) for i, n in enumerate(counts.tolist())]

    def _single_buffers(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """This thread's output arrays for one query of ``k`` hits (made once per thread and k)."""
        buffers = getattr(self._scratch, "single", None)
        if buffers is None or buffers[0].shape[1] != k:
            buffers = (np.empty((1, k), dtype=np.float32), np.empty((1, k), dtype=np.int64),
                       np.empty(1, dtype=np.int64), np.zeros(1, dtype=np.float32))
            self._scratch.single = buffers
        return buffers

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
