"""Exact top-k inner-product search: one BLAS matrix product per batch of queries.

Why not faiss's ``IndexFlatIP`` for the exact ("flat") dense index: faiss scans the corpus once
per query, so a batch costs about as much per query as single queries: with faiss-cpu 1.15 on
a 2-core machine, 100k x 384 vectors cost 5.2-5.9 ms per query at every batch size from 2 to 64
and 12.8 ms for one (``benchmarks/RESULTS.md``, "Exact dense search"). A single ``(B, d) @ (d, N)`` product reads the
corpus vectors once for the whole batch, which is what the batched vector env needs, since it
sends the queries of all its sub-envs in one call.
IVF and HNSW stay with faiss: they are approximate indexes, and their per-query cost does not
scale with the corpus.

Results are exact and deterministic: best first, ties broken by the lower row (corpus order),
including at the k-th place, where an unordered partial sort would otherwise choose among
equal scores arbitrarily.
"""

from __future__ import annotations

from typing import Final

import numpy as np

MAX_SCORES_PER_PRODUCT: Final = 16_000_000
"""Queries x vectors scored per matrix product (64 MB of float32): large batches over large
corpora are split into query chunks, so memory stays bounded (1M vectors: 16 queries per chunk)."""


def top_k_of_row(scores: np.ndarray, k: int, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(scores, rows)`` of one score vector, best first, ties by lower row.

    ``candidates`` (optional) are the positions of some ``k`` largest scores (an unordered
    partition); they fix the k-th score, and every position above it plus the lowest-row ties
    at it make the exact answer.
    """
    total = len(scores)
    if k >= total:
        rows = np.arange(total)
    else:
        if candidates is None:
            candidates = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[candidates].min()
        above = np.flatnonzero(scores > threshold)
        tied = np.flatnonzero(scores == threshold)[: k - len(above)]  # ascending rows
        rows = np.concatenate([above, tied])
    order = np.lexsort((rows, -scores[rows]))
    rows = rows[order]
    return scores[rows], rows


class ExactInnerProductIndex:
    """Exact maximum-inner-product search over fixed vectors (rows = corpus order).

    The products run in torch, on ``device``: on the CPU they then share the thread pool of
    the sentence-transformers encoder that produced the queries. A second BLAS pool (numpy's
    OpenBLAS) measured 2x slower per single query here, its idle threads spinning against
    torch's. On a GPU the corpus vectors stay in GPU memory.

    Two layouts, each where it is fastest (measured on 100k x 384, 2 cores): a batch is
    ``vectors @ queries.T`` over the vectors as given (shared with the caller's array, no
    copy on the CPU): 4.9 ms/query at 2 queries, 1.5 at 16. A single query is a
    matrix-vector product over a transposed contiguous copy ``(d, N)``: 7.4 ms against 14.6
    over the row layout. The copy is only made on the CPU.
    """

    def __init__(self, vectors: np.ndarray, *, device: str = "cpu", max_scores: int = MAX_SCORES_PER_PRODUCT) -> None:
        import torch

        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"vectors must be a non-empty 2-D array, got shape {vectors.shape}")
        if max_scores < 1:
            raise ValueError(f"max_scores must be at least 1, got {max_scores}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._rows = torch.from_numpy(vectors).to(device)
        self._columns = self._rows.T.contiguous() if self._rows.device.type == "cpu" else None
        self.ntotal, self.d = vectors.shape
        self.device = device
        self.max_scores = max_scores

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)``, each ``(len(queries), min(k, ntotal))``, best first per query."""
        import torch

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.d:
            raise ValueError(f"queries must have shape (n, {self.d}), got {queries.shape}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        k = min(k, self.ntotal)
        scores_out = np.empty((len(queries), k), dtype=np.float32)
        rows_out = np.empty((len(queries), k), dtype=np.int64)
        chunk = max(1, self.max_scores // self.ntotal)
        with torch.inference_mode():
            for start in range(0, len(queries), chunk):
                block = torch.from_numpy(queries[start : start + chunk]).to(self.device)
                if len(block) == 1 and self._columns is not None:
                    scores = block @ self._columns
                else:
                    scores = (self._rows @ block.T).T.contiguous()
                # topk only fixes the k-th score; the exact order and ties are settled below
                candidates = None if k >= self.ntotal else torch.topk(scores, k, dim=1).indices.cpu().numpy()
                for offset, row_scores in enumerate(scores.cpu().numpy()):
                    top = top_k_of_row(row_scores, k, None if candidates is None else candidates[offset])
                    scores_out[start + offset], rows_out[start + offset] = top
        return scores_out, rows_out

    @property
    def nbytes(self) -> int:
        """Memory held beyond the caller's array: the transposed copy (CPU only)."""
        return 0 if self._columns is None else self.d * self.ntotal * 4

    def __repr__(self) -> str:
        return f"ExactInnerProductIndex(ntotal={self.ntotal}, d={self.d}, device={self.device!r})"
