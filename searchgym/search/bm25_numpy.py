"""The BM25 ranking of :mod:`~searchgym.search.bm25_kernel` in plain numpy: the fallback.

Why a fallback at all: numba is a declared dependency, but it lags new Python releases and
some platforms lack its wheels; a user there still gets ``engine="bm25"`` with the very same
rankings, only slower (every posting is added, as bm25s's own numpy backend does). Set
``SEARCHGYM_BM25_KERNEL=numpy`` (or ``BM25Engine(kernel="numpy")``) to choose it on purpose;
the tests check that both kernels return the same hits, bit for bit.

Exactness: ``scores[rows] += data`` adds each query term's postings in query order, the very
float32 additions bm25s's ``get_scores`` makes (a row occurs once per posting list); ties at
every rank go to the lower row, as in the compiled kernels.
"""

from __future__ import annotations

import numpy as np


def top_k_batch(
    indptr: np.ndarray,
    docs: np.ndarray,
    scores: np.ndarray,
    num_docs: int,
    query_terms: np.ndarray,
    query_offsets: np.ndarray,
    k: int,
    offsets: np.ndarray,
    every_row: bool,
    out_scores: np.ndarray,
    out_rows: np.ndarray,
    out_counts: np.ndarray,
) -> None:
    """The contract of :func:`searchgym.search.bm25_kernel.top_k_batch`: query ``b``'s hits
    (score above zero, score down, row up) go to ``out_scores[b]`` / ``out_rows[b]``."""
    totals = np.zeros(num_docs, dtype=np.float32)
    for b in range(len(query_offsets) - 1):
        totals[:] = 0.0
        for term in query_terms[query_offsets[b] : query_offsets[b + 1]]:
            start, end = indptr[term], indptr[term + 1]
            totals[docs[start:end]] += scores[start:end]
        values = totals + offsets[b] if every_row else totals
        rows = np.flatnonzero(values > 0.0)
        if len(rows) > k:  # keep every row tied with the k-th score, then order exactly
            kth = np.partition(values[rows], len(rows) - k)[len(rows) - k]
            rows = rows[values[rows] >= kth]
        rows = rows[np.lexsort((rows, -values[rows]))][:k]
        out_counts[b] = len(rows)
        out_rows[b, : len(rows)] = rows
        out_scores[b, : len(rows)] = values[rows]
