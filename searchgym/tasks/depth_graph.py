"""The depth meter's sparse reveal graph: rows of int32 columns with vectorised gathers.

Depth is measured for thousands of tasks on worlds of up to 100k entities, so every graph walk
(the BFS levels, backward distances, the integer program's sub-graph) gathers many CSR rows at
once with numpy instead of looping over Python sets. Shared by :mod:`searchgym.tasks.depth` and
the exact searches (:mod:`searchgym.tasks.depth_search`, :mod:`searchgym.tasks.plan_milp`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["FAR", "MAX_DEPTH", "Csr"]

MAX_DEPTH = 16
FAR = np.int32(1 << 20)  # the distance of what is not reached


class Csr:
    """Rows of int32 columns, with a vectorised gather of many rows at once."""

    def __init__(self, rows: Sequence[Sequence[int]]) -> None:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        self.indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.indices = np.fromiter((c for r in rows for c in r), dtype=np.int32, count=int(self.indptr[-1]))

    def row(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def gather(self, rows: np.ndarray) -> np.ndarray:
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int32)
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.indices[np.arange(total) + offsets]
