"""Exact inner-product search: same neighbours as faiss's exhaustive IndexFlatIP, exact ties."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchgym.search.exact import ExactInnerProductIndex, top_k_of_row


def reference(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force in float64, sorted by (-score, row): the documented order."""
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    rows = np.stack([np.lexsort((np.arange(len(vectors)), -row))[:k] for row in scores])
    return np.take_along_axis(scores, rows, axis=1), rows


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    d=st.integers(1, 24),
    nq=st.integers(1, 40),
    k=st.integers(1, 320),
    max_scores=st.sampled_from([1, 97, 10_000]),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_brute_force_on_any_shape_and_chunking(n, d, nq, k, max_scores, seed):
    rng = np.random.default_rng(seed)
    # integer-valued vectors: exact float32 products, so ties are real and the order is exact
    vectors = rng.integers(-3, 4, size=(n, d)).astype(np.float32)
    queries = rng.integers(-3, 4, size=(nq, d)).astype(np.float32)
    index = ExactInnerProductIndex(vectors, max_scores=max_scores)
    scores, rows = index.search(queries, k)
    want_scores, want_rows = reference(vectors, queries, min(k, n))
    assert scores.shape == rows.shape == (nq, min(k, n))
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(scores, want_scores.astype(np.float32))


def test_same_neighbours_as_faiss_flat_on_normalised_embeddings():
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((5000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((33, 64)).astype(np.float32)
    flat = faiss.IndexFlatIP(64)
    flat.add(vectors)
    faiss_scores, faiss_rows = flat.search(queries, 10)
    scores, rows = ExactInnerProductIndex(vectors, max_scores=5000 * 8).search(queries, 10)
    np.testing.assert_array_equal(rows, faiss_rows)  # random floats: no ties
    np.testing.assert_allclose(scores, faiss_scores, rtol=1e-5, atol=1e-5)


def test_ties_at_the_kth_place_keep_the_lowest_rows():
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.5], dtype=np.float32)
    top_scores, top_rows = top_k_of_row(scores, 3)
    assert top_rows.tolist() == [1, 0, 2]
    assert top_scores.tolist() == pytest.approx([0.9, 0.5, 0.5])
    duplicates = np.ones((6, 4), dtype=np.float32)
    _, rows = ExactInnerProductIndex(duplicates).search(np.ones((2, 4), dtype=np.float32), 4)
    assert rows.tolist() == [[0, 1, 2, 3]] * 2


def test_bad_shapes_are_clear_errors():
    index = ExactInnerProductIndex(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        index.search(np.ones((2, 4), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.search(np.ones((1, 3), dtype=np.float32), 0)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        ExactInnerProductIndex(np.zeros((0, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="max_scores"):
        ExactInnerProductIndex(np.eye(3, dtype=np.float32), max_scores=0)
    assert index.search(np.zeros((0, 3), dtype=np.float32), 2)[0].shape == (0, 2)


def test_single_queries_and_batches_agree_across_the_two_layouts():
    """One query uses the transposed copy, a batch the caller's rows: same neighbours."""
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    queries = rng.standard_normal((12, 32)).astype(np.float32)
    index = ExactInnerProductIndex(vectors)
    assert index.nbytes == vectors.nbytes  # the copy; the row layout shares the caller's array
    batch_scores, batch_rows = index.search(queries, 7)
    for query, scores, rows in zip(queries, batch_scores, batch_rows):
        single_scores, single_rows = index.search(query[None], 7)
        np.testing.assert_array_equal(single_rows[0], rows)
        np.testing.assert_allclose(single_scores[0], scores, rtol=1e-5, atol=1e-6)
