"""bm25s's score matrix as posting lists, and the ranking of one batch of term lists over it.

Why a module of its own: :class:`~searchgym.search.bm25.BM25Engine` is about text (tokenising,
hits, the cache, threads); this is about arrays: the term-major index bm25s builds, the pruning
data the compiled kernels read (built on first use, so the numpy fallback never pays for it),
and which kernel ranks a batch. Kernels:

* ``numba`` (the default when numba imports): :func:`~searchgym.search.bm25_kernel.top_k_batch`,
  which ranks a query of few postings by adding them (term at a time) and a longer one by
  block-max WAND, and releases the GIL;
* ``numpy``: :func:`~searchgym.search.bm25_numpy.top_k_batch`, every posting added with numpy.

Both return bm25s's float32 scores bit for bit and break ties by corpus order.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np

from searchgym.search import bm25_numpy

logger = logging.getLogger(__name__)

KERNELS: Final = ("numba", "numpy")
BM25_METHODS: Final = ("robertson", "lucene", "atire", "bm25l", "bm25+")  # bm25s's scoring variants
KERNEL_ENV: Final = "SEARCHGYM_BM25_KERNEL"

TAAT_MAX_POSTINGS: Final = 300_000
"""Queries with at most this many postings (all terms together, repeats counted) are ranked by
adding them, unless one term holds :data:`DOMINANT_SHARE` of them; longer ones by block-max
WAND unless :data:`WAND_MAX_SHARE` says otherwise (see
:func:`~searchgym.search.bm25_kernel.top_k_batch`). For corpora of at least
:data:`LARGE_CORPUS` passages the limit is :data:`LARGE_CORPUS_TAAT_MAX_POSTINGS`
(:func:`taat_max_postings_for`)."""
LARGE_CORPUS: Final = 500_000
LARGE_CORPUS_TAAT_MAX_POSTINGS: Final = 2_000
"""Why the limit falls with the corpus: WAND skips more of each list as the lists grow.
``benchmarks/bench_bm25_methods.py`` (RESULTS.md, runs of 2026-12-03 18:36 and 18:53), task
questions one at a time: on the 142k-passage corpus WAND first (handing a query back by
:data:`WAND_MAX_SHARE` or its sample, :data:`WAND_STEP_COST`) takes 1.08-1.29x addition's
time, on the 1.4M one 0.71-0.72x (the default routing, the same for those questions,
0.80-0.85x in those runs: methods of one run differ by up to ~15% by chance)."""
DOMINANT_SHARE: Final = 0.7
"""One term's share of a query's postings from which WAND ranks it (a name with one common
word: WAND never walks that word's list)."""
WAND_MAX_SHARE: Final = 0.2
"""WAND hands a query back to addition when the lists that a row cannot do without hold more
than this share of its postings (see :func:`~searchgym.search.bm25_wand.block_max_wand_top_k`)."""


SCAN_MIN_SHARE: Final = 0.25
"""From this many postings per passage, addition takes a query's top k by scanning every
passage's sum instead of listing the passages it touches (see
:func:`~searchgym.search.bm25_topk.taat_top_k`). ``benchmarks/bench_bm25_methods.py``
("addition" against "addition, touched list only", runs of 2026-12-03 18:36 and 18:53): task
questions (half a posting per passage) in 0.79-0.86x / 0.75-0.85x / 0.76-0.78x the time on
16k / 142k / 1.4M passages. A name query holds ~0.06 postings per passage there: a scan would
visit ~17 passages per posting added, so names keep the list. 0.25 lies between those two
densities; it is not tuned more finely."""
WAND_STEP_COST: Final = 32.0
"""What one step of block-max WAND costs, in postings added: WAND gives a query back to addition
when the steps it projects from its sample ranges cost more than adding the query's postings
(see :func:`~searchgym.search.bm25_wand.block_max_wand_top_k`; negative: no sample). The
choice is not sharp: a sweep of 32 to 64 postings a step with shares of 0.2 to 0.35 (a scratch
run of ``bench_bm25_methods.py``'s methods at 1M, not recorded) moved the mean by less than
the spread between runs."""


def taat_max_postings_for(num_docs: int) -> int:
    """The most postings a query of a corpus of ``num_docs`` passages is ranked by adding
    (:data:`TAAT_MAX_POSTINGS`, :data:`LARGE_CORPUS_TAAT_MAX_POSTINGS` from :data:`LARGE_CORPUS`)."""
    return TAAT_MAX_POSTINGS if num_docs < LARGE_CORPUS else LARGE_CORPUS_TAAT_MAX_POSTINGS


def default_kernel() -> str:
    """``$SEARCHGYM_BM25_KERNEL`` if set, else ``numba`` when it imports, else ``numpy``."""
    chosen = os.environ.get(KERNEL_ENV, "").strip().lower()
    if chosen:
        return check_kernel(chosen)
    try:
        import numba  # noqa: F401
    except ImportError:
        logger.warning("numba is not importable: BM25 ranks with the (slower) numpy kernel")
        return "numpy"
    return "numba"


def _compiled_kernel() -> Any:
    """:func:`~searchgym.search.bm25_kernel.top_k_batch`, imported on first use (numba is
    optional and its import takes seconds) and then kept: an ``import`` statement in
    :meth:`PostingIndex.rank` costs a lookup on every query."""
    global _top_k_batch
    if _top_k_batch is None:
        from searchgym.search.bm25_kernel import top_k_batch

        _top_k_batch = top_k_batch
    return _top_k_batch


_top_k_batch: Any = None


def check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise ValueError(f"unknown BM25 kernel {kernel!r}; valid: {', '.join(KERNELS)}")
    return kernel


class Scratch:
    """One thread's working arrays: the kernels' per-passage accumulator (all zero between
    calls), marks and touched rows, and the offsets and output rows of single-query calls
    (reused: a name query's whole ranking takes a few µs, so making them would show)."""

    def __init__(self, num_docs: int) -> None:
        self.accumulator = np.zeros(num_docs, dtype=np.float32)
        self.marked = np.zeros(num_docs, dtype=np.bool_)
        # one more than the passages: the addition kernel writes each posting's row one past the
        # last touched row before it knows whether to keep it (taat_top_k), so a query that
        # touches every passage writes entry num_docs; numba does not check bounds
        self.touched = np.empty(num_docs + 1, dtype=np.int32)
        self.single_offsets = np.zeros(2, dtype=np.int64)
        self.single_k = 0
        self.single: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def single_buffers(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.single is None or self.single_k != k:
            self.single = (
                np.empty((1, k), dtype=np.float32),
                np.empty((1, k), dtype=np.int64),
                np.empty(1, dtype=np.int64),
                np.zeros(1, dtype=np.float32),
            )
            self.single_k = k
        return self.single


@dataclass(frozen=True)
class PostingIndex:
    """bm25s's term-major score matrix.

    ``docs[indptr[t]:indptr[t + 1]]`` are the rows (ascending) of the passages containing
    term ``t`` and ``scores[...]`` their BM25 scores for it; ``min_scores`` tells which terms
    can score a passage at or below zero; ``nonoccurrence`` is bm25s's per-term score of
    passages *without* the term (``bm25l`` and ``bm25+`` only, else ``None``).
    """

    indptr: np.ndarray
    docs: np.ndarray
    scores: np.ndarray
    min_scores: np.ndarray
    nonoccurrence: np.ndarray | None
    vocabulary: tuple[str, ...]
    num_docs: int

    @classmethod
    def from_bm25s(cls, retriever: Any) -> PostingIndex:
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
        return cls(
            indptr,
            docs,
            data,
            min_scores,
            None if nonoccurrence is None else np.asarray(nonoccurrence, dtype=np.float32),
            tuple(vocabulary),
            int(scores["num_docs"]),
        )

    @cached_property
    def kernel_arrays(
        self,
    ) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
    ]:
        """The leading arguments of :func:`~searchgym.search.bm25_kernel.top_k_batch`: the
        posting lists and their pruning data (:mod:`~searchgym.search.bm25_bounds`), built
        on the first ranking by the compiled kernel."""
        from searchgym.search import bm25_bounds

        blocks = bm25_bounds.build_blocks(self.indptr, self.docs, self.scores)
        top_rows, rest_max = bm25_bounds.build_top_rows(self.indptr, self.scores, self.docs, bm25_bounds.TOP_ROWS)
        block_ptr, block_max, block_last = blocks
        return (
            self.indptr,
            self.docs,
            self.scores,
            rest_max,
            self.min_scores,
            block_ptr,
            block_max,
            block_last,
            top_rows,
        )

    def postings(self, terms: np.ndarray) -> int:
        return int((self.indptr[terms + 1] - self.indptr[terms]).sum())

    def pack(self, batch: list[list[int]], k: int, scratch: Scratch) -> PackedBatch:
        """A batch of term lists (non-empty) as the kernels' arrays, with room for ``k`` hits
        each. Kept lean: a name query's whole ranking takes a few µs, so numpy set-up would
        show: a one-query batch uses the scratch's offsets and output rows, so rank (and read)
        it before packing another on the same scratch."""
        size = len(batch)
        if size == 1:
            terms = np.array(batch[0], dtype=np.int64)
            offsets = scratch.single_offsets
            offsets[1] = len(terms)
            out_scores, out_rows, counts, no_extra = scratch.single_buffers(k)
        else:
            offsets = np.zeros(size + 1, dtype=np.int64)
            np.cumsum([len(found) for found in batch], out=offsets[1:])
            terms = np.fromiter(itertools.chain.from_iterable(batch), dtype=np.int64, count=int(offsets[-1]))
            out_scores = np.empty((size, k), dtype=np.float32)
            out_rows = np.empty((size, k), dtype=np.int64)
            counts = np.empty(size, dtype=np.int64)
            no_extra = np.zeros(size, dtype=np.float32)
        nonoccurrence = self.nonoccurrence
        if nonoccurrence is not None:  # bm25s adds ``nonoccurrence[terms].sum()`` (numpy's float32 sum) to all
            extra = np.array(
                [nonoccurrence[terms[a:b]].sum() for a, b in itertools.pairwise(offsets)], dtype=np.float32
            )
        else:
            extra = no_extra
        return PackedBatch(terms, offsets, k, extra, out_scores, out_rows, counts)

    def rank(
        self,
        packed: PackedBatch,
        start: int,
        stop: int,
        scratch: Scratch,
        kernel: str,
        taat_max_postings: int = TAAT_MAX_POSTINGS,
        dominant_share: float = DOMINANT_SHARE,
        wand_max_share: float = WAND_MAX_SHARE,
        wand_step_cost: float = WAND_STEP_COST,
        scan_min_share: float = SCAN_MIN_SHARE,
    ) -> None:
        """Rank queries ``start`` to ``stop`` of ``packed`` into its output rows (threads may
        rank disjoint ranges at once, each on its own scratch: the compiled kernel releases the
        GIL). The numba kernel's choice of method: :data:`TAAT_MAX_POSTINGS`; how addition
        picks its top k: :data:`SCAN_MIN_SHARE`."""
        every_row = self.nonoccurrence is not None
        if start == 0 and stop == len(packed.counts):  # the whole batch (always, but on threads)
            offsets, extra = packed.offsets, packed.extra
            outputs = (packed.out_scores, packed.out_rows, packed.counts)
        else:
            offsets, extra = packed.offsets[start : stop + 1], packed.extra[start:stop]
            outputs = (packed.out_scores[start:stop], packed.out_rows[start:stop], packed.counts[start:stop])
        if kernel == "numba":
            _compiled_kernel()(
                *self.kernel_arrays,
                packed.terms,
                offsets,
                packed.k,
                extra,
                every_row,
                taat_max_postings,
                dominant_share,
                wand_max_share,
                wand_step_cost,
                scan_min_share,
                scratch.accumulator,
                scratch.marked,
                scratch.touched,
                *outputs,
            )
        else:
            bm25_numpy.top_k_batch(
                self.indptr,
                self.docs,
                self.scores,
                self.num_docs,
                packed.terms,
                offsets,
                packed.k,
                extra,
                every_row,
                *outputs,
            )


@dataclass(slots=True)
class PackedBatch:
    """Queries ``b``: ``terms[offsets[b]:offsets[b + 1]]`` plus ``extra[b]`` added to every
    score; their hits go to ``out_scores[b]`` / ``out_rows[b]``, their number to ``counts[b]``.

    One call's container, made per search: not frozen, since a frozen dataclass sets each
    field through ``object.__setattr__`` (1.1 µs for these seven, 0.2 µs with slots).
    """

    terms: np.ndarray
    offsets: np.ndarray
    k: int
    extra: np.ndarray
    out_scores: np.ndarray
    out_rows: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    def postings_before(self, index: PostingIndex) -> np.ndarray:
        """Postings of queries ``0..b-1`` together, for each ``b`` (where to cut the batch)."""
        lengths = index.indptr[self.terms + 1] - index.indptr[self.terms]
        return np.concatenate(([0], np.cumsum(lengths)))[self.offsets]

    def results(self) -> list[tuple[list[int], list[float]]]:
        """``(rows, scores)`` best first for each query."""
        if len(self.counts) == 1:
            count = self.counts.item()
            return [(self.out_rows[0, :count].tolist(), self.out_scores[0, :count].tolist())]
        rows, scores = self.out_rows.tolist(), self.out_scores.tolist()
        return [(rows[i][:n], scores[i][:n]) for i, n in enumerate(self.counts.tolist())]
