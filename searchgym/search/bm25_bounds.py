"""Pruning data of a BM25 index, built once per index: block maxima and each term's best rows.

Why a module of its own: these arrays are derived from the score matrix when an index is built or
loaded (:class:`~searchgym.search.bm25_index.PostingIndex`), while :mod:`~searchgym.search.bm25_kernel`
reads them on every query; keeping the two apart keeps each file about one job.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np

BLOCK: Final = 64
"""Postings per block of the block-max bounds (PISA's default block size is 64 as well)."""


@numba.njit(cache=True, nogil=True)
def build_blocks(indptr, docs, scores):
    """Block-max metadata: ``(block_ptr, block_max, block_last)``.

    Term ``t``'s posting list is cut into blocks of :data:`BLOCK` postings, numbered
    ``block_ptr[t]`` to ``block_ptr[t + 1]``; ``block_max`` is the largest score in a block and
    ``block_last`` its last row, so a search can bound a passage's score from a block without
    reading the block (block-max WAND, Ding & Suel 2011).
    """
    n_terms = len(indptr) - 1
    block_ptr = np.zeros(n_terms + 1, dtype=np.int64)
    for t in range(n_terms):
        block_ptr[t + 1] = block_ptr[t] + (indptr[t + 1] - indptr[t] + BLOCK - 1) // BLOCK
    block_max = np.zeros(block_ptr[n_terms], dtype=np.float32)
    block_last = np.zeros(block_ptr[n_terms], dtype=np.int32)
    for t in range(n_terms):
        for b in range(block_ptr[t], block_ptr[t + 1]):
            start = indptr[t] + (b - block_ptr[t]) * BLOCK
            end = min(start + BLOCK, indptr[t + 1])
            best = scores[start]
            for position in range(start + 1, end):
                if scores[position] > best:
                    best = scores[position]
            block_max[b] = best
            block_last[b] = docs[end - 1]
    return block_ptr, block_max, block_last


TOP_ROWS: Final = 16
"""Best rows kept per term, to fill the top k when the strongest query term is that rare."""


@numba.njit(cache=True, nogil=True)
def build_top_rows(indptr, scores, docs, width):
    """``(top_rows, rest_max)``: each term's ``width`` best rows (score down, then row up;
    -1 padded) and the best score among its other rows (0 if it has no other rows)."""
    n_terms = len(indptr) - 1
    top = np.full((n_terms, width), -1, dtype=np.int64)
    rest_max = np.zeros(n_terms, dtype=np.float32)
    for t in range(n_terms):
        segment = scores[indptr[t] : indptr[t + 1]]
        ranked = np.argsort(-segment, kind="mergesort")  # stable: equal scores by row
        for j in range(min(width, len(ranked))):
            top[t, j] = docs[indptr[t] + ranked[j]]
        if len(ranked) > width:
            rest_max[t] = segment[ranked[width]]
    return top, rest_max
