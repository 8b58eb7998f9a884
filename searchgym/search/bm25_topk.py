"""Tie-aware top k of BM25 scores added term at a time: the heap every kernel ranks with.

Why term-at-a-time (TAAT) beside block-max WAND (:mod:`~searchgym.search.bm25_kernel`): a
query whose posting lists are short next to the corpus (an entity name; a question over a
100k-passage corpus) costs WAND more per step (galloping probes, bound checks, keeping the
lists in row order) than adding its postings into one float32 accumulator costs per posting,
a few nanoseconds each (``benchmarks/bench_bm25_methods.py`` measures both, per corpus size).
The additions are bm25s's ``get_scores`` additions: every occurrence of every query term in
query order, so sums are bit-identical.

The heap ranks by score down, then row up (corpus order breaks ties at every rank, the k-th
included), which is the order every kernel and the numpy fallback return.
"""

from __future__ import annotations

import numba
import numpy as np

from searchgym.search.bm25_index import SCAN_MIN_SHARE


@numba.njit(cache=True, nogil=True)
def worse(
    score_a: float | np.floating, row_a: int | np.integer, score_b: float | np.floating, row_b: int | np.integer
) -> bool | np.bool_:
    """Whether hit a ranks below hit b: a lower score, or the same score and a later row."""
    return score_a < score_b or (score_a == score_b and row_a > row_b)


@numba.njit(cache=True, nogil=True)
def heap_push(heap_scores, heap_rows, size, k, score, row) -> int:
    """Offer a hit to a min-heap (worst at the root) of at most ``k`` hits; the new size."""
    if size < k:
        position = size
        size += 1
    elif worse(heap_scores[0], heap_rows[0], score, row):
        position = 0  # replace the root, then sift down
        while True:
            child = 2 * position + 1
            if child >= k:
                break
            if child + 1 < k and worse(
                heap_scores[child + 1], heap_rows[child + 1], heap_scores[child], heap_rows[child]
            ):
                child += 1
            if worse(heap_scores[child], heap_rows[child], score, row):
                heap_scores[position] = heap_scores[child]
                heap_rows[position] = heap_rows[child]
                position = child
            else:
                break
        heap_scores[position] = score
        heap_rows[position] = row
        return size
    else:
        return size
    while position > 0:  # sift up
        parent = (position - 1) // 2
        if worse(score, row, heap_scores[parent], heap_rows[parent]):
            heap_scores[position] = heap_scores[parent]
            heap_rows[position] = heap_rows[parent]
            position = parent
        else:
            break
    heap_scores[position] = score
    heap_rows[position] = row
    return size


@numba.njit(cache=True, nogil=True)
def write_sorted(heap_scores, heap_rows, size, out_scores, out_rows) -> None:
    """Write the heap's hits best first (score down, row up) into the output rows."""
    order = np.empty(size, dtype=np.int64)
    for i in range(size):
        order[i] = i
    for i in range(1, size):  # insertion sort: k is small
        current = order[i]
        j = i - 1
        while j >= 0 and worse(heap_scores[order[j]], heap_rows[order[j]], heap_scores[current], heap_rows[current]):
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = current
    for i in range(size):
        out_scores[i] = heap_scores[order[i]]
        out_rows[i] = heap_rows[order[i]]


@numba.njit(cache=True, nogil=True)
def scan_top_k(accumulator, offset, k, heap_scores, heap_rows) -> int:
    """Fill an empty heap with the best passages whose sum plus ``offset`` is above zero,
    visiting every passage in row order and zeroing the accumulator as it goes; the heap's size.

    In row order a passage that only ties the worst hit of a full heap loses (ties go to the
    lower row), so one strict comparison with that hit's score decides: a test per passage that
    rarely passes, so the branch is predicted. The first floor is zero itself, not the least
    positive float32: where denormals are flushed to zero (a library built with
    ``-ffast-math`` sets that for the whole process) that floor would read as zero and let
    untouched passages in.
    """
    size = 0
    floor = np.float32(0.0)
    for row in range(len(accumulator)):
        score = accumulator[row] + offset
        accumulator[row] = 0.0
        if score > floor:
            size = heap_push(heap_scores, heap_rows, size, k, score, row)
            if size == k:
                floor = heap_scores[0]
    return size


@numba.njit(cache=True, nogil=True)
def exhaustive_top_k(
    indptr, docs, scores, query_terms, k, offset, every_row, accumulator, marked, touched, out_scores, out_rows
) -> int:
    """Top ``k`` of one query by adding every posting, in bm25s's order (term by term).

    ``accumulator`` (float32) and ``marked`` (bool), one entry per passage, must be all zero
    and are left so; ``touched`` needs room for one row per passage. ``offset`` is added to
    every passage's sum (bm25s's non-occurrence score of the query, for ``bm25l`` and
    ``bm25+``). With ``every_row`` every passage is a candidate, else only those sharing a
    term. Hits must score above zero.
    """
    n_touched = 0
    for j in range(len(query_terms)):
        term = query_terms[j]
        for position in range(indptr[term], indptr[term + 1]):
            row = docs[position]
            if not marked[row]:
                marked[row] = True
                touched[n_touched] = row
                n_touched += 1
            accumulator[row] += scores[position]
    heap_scores = np.empty(k, dtype=np.float32)
    heap_rows = np.empty(k, dtype=np.int64)
    size = 0
    if every_row:
        size = scan_top_k(accumulator, offset, k, heap_scores, heap_rows)
    else:
        for i in range(n_touched):
            row = touched[i]
            score = accumulator[row] + offset
            if score > 0.0 and (size < k or worse(heap_scores[0], heap_rows[0], score, row)):
                size = heap_push(heap_scores, heap_rows, size, k, score, row)
    for i in range(n_touched):
        accumulator[touched[i]] = 0.0
        marked[touched[i]] = False
    write_sorted(heap_scores, heap_rows, size, out_scores, out_rows)
    return size


@numba.njit(cache=True, nogil=True)
def taat_top_k(
    indptr, docs, scores, query_terms, k, accumulator, touched, out_scores, out_rows, scan_min_share=SCAN_MIN_SHARE
) -> int:
    """Top ``k`` of one query whose every posting score is positive, by adding its postings.

    ``accumulator`` (float32, one entry per passage) must be all zero and is left so; a zero
    entry marks a passage not yet touched (a sum of positive float32 terms never returns to
    zero). Which passages to rank:

    * a query of fewer than ``scan_min_share`` postings per passage lists the passages it
      touches in ``touched`` as it adds, which needs room for one row per passage *plus one*:
      each posting's row is written at ``touched[n_touched]`` before the count says whether it
      stays, so once every passage is touched the next posting writes entry ``num_docs``
      (numba does not check bounds);
    * a denser one adds without keeping that list and then scans every passage's sum, in row
      order, against the worst hit so far (:func:`scan_top_k`): the list costs a test and a
      write per posting and a random read per listed passage, the scan one sequential read
      and write per passage, so a query dense enough is ranked faster by the scan
      (:data:`~searchgym.search.bm25_index.SCAN_MIN_SHARE` has the figures).
    """
    postings = 0
    for j in range(len(query_terms)):
        postings += indptr[query_terms[j] + 1] - indptr[query_terms[j]]
    heap_scores = np.empty(k, dtype=np.float32)
    heap_rows = np.empty(k, dtype=np.int64)
    size = 0
    if postings >= scan_min_share * len(accumulator):
        for j in range(len(query_terms)):
            term = query_terms[j]
            for position in range(indptr[term], indptr[term + 1]):
                accumulator[docs[position]] += scores[position]
        size = scan_top_k(accumulator, np.float32(0.0), k, heap_scores, heap_rows)
        write_sorted(heap_scores, heap_rows, size, out_scores, out_rows)
        return size
    n_touched = 0
    for j in range(len(query_terms)):
        term = query_terms[j]
        for position in range(indptr[term], indptr[term + 1]):
            row = docs[position]
            before = accumulator[row]
            touched[n_touched] = row  # kept only if the row was untouched: no branch to mispredict
            n_touched += before == 0.0
            accumulator[row] = before + scores[position]
    for i in range(n_touched):
        row = touched[i]
        score = accumulator[row]
        accumulator[row] = 0.0
        if size < k or worse(heap_scores[0], heap_rows[0], score, row):
            size = heap_push(heap_scores, heap_rows, size, k, score, row)
    write_sorted(heap_scores, heap_rows, size, out_scores, out_rows)
    return size
