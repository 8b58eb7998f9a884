"""The approximate faiss indexes of dense retrieval (IVF, HNSW) and when a request for one
falls back to exact search; :class:`~searchgym.search.dense.DenseEngine` caches what they build.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

__all__ = [
    "INDEX_KINDS",
    "IVF_MIN_PASSAGES",
    "IVF_MIN_POINTS_PER_LIST",
    "build_faiss_index",
    "effective_index_kind",
    "ivf_nlist",
]

INDEX_KINDS: Final = ("flat", "ivf", "hnsw")
IVF_MIN_PASSAGES: Final = 1000
"""Below this corpus size ``index="ivf"`` falls back to an exact flat index.

Why: an exhaustive search over under a thousand vectors takes microseconds, so IVF would only
cost recall; and k-means needs about :data:`IVF_MIN_POINTS_PER_LIST` training points per list to
give usable centroids (faiss warns below that).
"""

IVF_MIN_POINTS_PER_LIST: Final = 39


def ivf_nlist(num_vectors: int, nlist: int | None) -> int:
    wanted = nlist if nlist is not None else round(math.sqrt(num_vectors))
    return max(1, min(wanted, num_vectors // IVF_MIN_POINTS_PER_LIST))


def effective_index_kind(kind: str, num_vectors: int) -> str:
    """The index actually built: ``"ivf"`` on a small corpus becomes ``"flat"`` (see
    :data:`IVF_MIN_PASSAGES`)."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown faiss index {kind!r}; valid: {', '.join(INDEX_KINDS)}")
    if kind == "ivf" and num_vectors < IVF_MIN_PASSAGES:
        return "flat"
    return kind


def build_faiss_index(
    embeddings: np.ndarray,
    kind: str = "flat",
    *,
    nlist: int | None = None,
    hnsw_m: int = 32,
    ef_construction: int = 200,
    seed: int = 0,
) -> Any:
    """An inner-product faiss index over ``embeddings`` (rows = corpus order).

    ``flat`` is exact. ``ivf`` clusters into ``nlist`` lists (default ``round(sqrt(N))``, at
    most ``N // 39``) trained on the embeddings themselves; searches probe ``nprobe`` lists.
    ``hnsw`` is a graph index with ``hnsw_m`` links per node. The k-means seed is fixed so that
    the same embeddings give the same IVF index.
    """
    import faiss

    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise ValueError(f"embeddings must be a non-empty 2-D array, got shape {vectors.shape}")
    dim = vectors.shape[1]
    kind = effective_index_kind(kind, len(vectors))
    index: faiss.Index
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = ef_construction
        index = graph
    else:
        lists = ivf_nlist(len(vectors), nlist)
        quantizer = faiss.IndexFlatIP(dim)
        inverted = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        inverted.cp.seed = seed
        inverted.train(vectors)
        index = inverted
    index.add(vectors)
    return index
