"""Top-k BM25 over a term-major index of precomputed scores: which method ranks a query, and MaxScore.

Why a kernel of our own rather than bm25s's ``retrieve`` or a scipy product: both score every
posting of every query term and then select among *all* passages, and a name query pays
~140 µs of Python and scipy set-up for a few postings (issue 18). :func:`top_k_batch` ranks a
batch in one compiled call and picks per query: adding the postings into an accumulator
(:func:`~searchgym.search.bm25_topk.taat_top_k`, ~2 ns a posting, the fastest for the task
questions of this project's 10k and 100k corpora) or, for very long lists (a 1M corpus) and
for names with one common word, MaxScore, which skips passages that cannot reach the top k.
MaxScore walks the posting lists document-at-a-time with dynamic pruning (Turtle & Flood, 1995):
terms are ordered by their largest contribution, and once the k-th best score so far exceeds
what the weakest terms can add together, passages that only those terms contain are never
scored; the other lists are probed for the candidate by galloping search.

Exactness: a passage's score is the float32 sum of its per-term scores *in query order*, each
occurrence of a repeated query term counted again: the very additions, in the very order, that
bm25s's ``get_scores`` makes, so scores are bit-identical to bm25s's. Pruning bounds are
kept in float64 and widened by the most that the float32 additions they stand for can round up
(nothing for a single term), so no passage that could enter the top k is ever skipped. Ties are
broken by corpus order at every rank, the k-th included: a bound equal to the k-th score still
admits a passage of lower row than the k-th hit's.

Queries whose terms can score a passage at or below zero (``robertson`` idf is negative for
terms in over half the corpus) and methods that give every passage a score (``bm25l``,
``bm25+``) take :func:`~searchgym.search.bm25_topk.exhaustive_top_k`, which adds every
posting as bm25s does.

All kernels are compiled by numba (cached on disk, so only the first process pays the compile)
and release the GIL, so batches can be split over threads.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np

from searchgym.search.bm25_bounds import BLOCK
from searchgym.search.bm25_topk import exhaustive_top_k, heap_push, taat_top_k, worse, write_sorted

_END: Final = np.iinfo(np.int32).max
MAXSCORE_MIN_POSTINGS: Final = 2_000
"""Below this many postings a query is always ranked by addition (see :func:`top_k_batch`)."""


@numba.njit(cache=True, nogil=True)
def _next_geq(docs, position, end, target) -> int:
    """First position in ``docs[position:end]`` (sorted) holding a row >= ``target``."""
    if position >= end or docs[position] >= target:
        return position
    step = 1
    low = position
    high = position + 1
    while high < end and docs[high] < target:  # gallop
        low = high
        step *= 2
        high = position + step
    if high > end:
        high = end
    while low + 1 < high:  # docs[low] < target <= docs[high] (or high == end)
        middle = (low + high) // 2
        if docs[middle] < target:
            low = middle
        else:
            high = middle
    return high


@numba.njit(cache=True, nogil=True)
def _bound(total: float, additions: int) -> float:
    """An upper bound of the float32 sum of ``additions`` non-negative terms whose exact sum is
    at most ``total``: one term is exact; each further float32 addition can round up by at
    most half an ulp, covered by 2**-23 per addition."""
    if additions <= 1:
        return total
    return total * (1.0 + (additions - 1) * 1.1920928955078125e-07)


@numba.njit(cache=True, nogil=True)
def _cannot_enter(bound: float, additions: int, threshold: float, row, worst_row, small_k: bool) -> bool:
    """Whether a passage outside pass 1's pool, scoring at most ``bound`` (a sum of
    ``additions`` terms), loses to the worst hit of a full top k.

    A tie goes to the lower row. With one addition and ``k`` at most the rows pass 1 took per
    term, a tie always loses: the passage's score then comes from one term t, equals the
    threshold and so t's lowest pooled score s; the pooled rows of t scoring s or more are
    the lowest such rows, and the k-th hit ranks at least as high as the k-th of them.
    """
    if bound < threshold:
        return True
    return bound == threshold and (row > worst_row or (additions <= 1 and small_k))


@numba.njit(cache=True, nogil=True)
def _exact_score(docs, scores, ends, probe, contribution, n_terms, rank, slot_of, row) -> np.float32:
    """bm25s's float32 score of ``row``: every list probed from ``probe`` (moved forward, so
    rows must be asked in increasing order), contributions added in query order."""
    for i in range(n_terms):
        probe[i] = _next_geq(docs, probe[i], ends[i], row)
        contribution[i] = scores[probe[i]] if probe[i] < ends[i] and docs[probe[i]] == row else 0.0
    exact = np.float32(0.0)
    for j in range(len(slot_of)):
        exact += contribution[rank[slot_of[j]]]
    return exact


@numba.njit(cache=True, nogil=True)
def maxscore_top_k(
    indptr, docs, scores, rest_max, block_ptr, block_max, block_last, top_rows, query_terms, k, out_scores, out_rows
) -> int:
    """Top ``k`` of one query (term ids, repeats allowed) by MaxScore; returns the hit count.

    Every posting score of the query's terms must be positive. ``block_*`` are the block-max
    bounds of :func:`~searchgym.search.bm25_bounds.build_blocks`, ``top_rows`` each term's best rows
    and ``rest_max`` the best score among its other rows (:func:`~searchgym.search.bm25_bounds.build_top_rows`).

    Three passes, each skipping the passages an earlier one scored:

    1. the best rows of every query term, scored exactly: the top k starts full of strong
       passages, so the threshold is high from the start (a one-term query is done here);
    2. every passage of the strongest term, skipping blocks whose bound cannot beat the
       threshold: that term then leaves the traversal;
    3. MaxScore over the other terms: passages only in the weak ("non-essential") lists are
       never visited, and a candidate is dropped as soon as the block-max bounds of the
       lists not yet probed cannot lift it into the top k.

    A bound equal to the threshold still admits rows below the worst hit's (ties go to the
    lower row), which is why every pruning test takes the row into account.
    """
    n_occurrences = len(query_terms)
    # unique terms, their multiplicity, and which unique term each occurrence is
    unique = np.empty(n_occurrences, dtype=np.int64)
    count = np.zeros(n_occurrences, dtype=np.int64)
    slot_of = np.empty(n_occurrences, dtype=np.int64)
    n_terms = 0
    for j in range(n_occurrences):
        term = query_terms[j]
        found = -1
        for u in range(n_terms):
            if unique[u] == term:
                found = u
                break
        if found < 0:
            found = n_terms
            unique[n_terms] = term
            n_terms += 1
        count[found] += 1
        slot_of[j] = found
    # order terms by upper bound, ascending; ``rank[u]`` is the sorted place of unique term u
    # (outside pass 1's pool, a term scores at most its rest_max: its pooled rows are its best)
    bounds = np.empty(n_terms, dtype=np.float64)
    for u in range(n_terms):
        bounds[u] = count[u] * np.float64(rest_max[unique[u]])
    order = np.argsort(bounds, kind="mergesort")
    rank = np.empty(n_terms, dtype=np.int64)
    cursor = np.empty(n_terms, dtype=np.int64)
    ends = np.empty(n_terms, dtype=np.int64)
    weight = np.empty(n_terms, dtype=np.int64)  # occurrences of each sorted term in the query
    block = np.empty(n_terms, dtype=np.int64)  # each sorted term's current block
    block_end = np.empty(n_terms, dtype=np.int64)
    prefix = np.empty(n_terms, dtype=np.float64)  # exact bound of sorted terms 0..i together
    prefix_adds = np.empty(n_terms, dtype=np.int64)  # and how many float32 additions it sums
    total = 0.0
    adds = 0
    for i in range(n_terms):
        term = unique[order[i]]
        rank[order[i]] = i
        cursor[i] = indptr[term]
        ends[i] = indptr[term + 1]
        weight[i] = count[order[i]]
        block[i] = block_ptr[term]
        block_end[i] = block_ptr[term + 1]
        total += bounds[order[i]]
        adds += weight[i]
        prefix[i] = total
        prefix_adds[i] = adds

    heap_scores = np.empty(k, dtype=np.float32)
    heap_rows = np.empty(k, dtype=np.int64)
    size = 0
    contribution = np.zeros(n_terms, dtype=np.float32)  # per sorted term, at the candidate
    probe = cursor.copy()

    # 1. the best rows of each term
    width = top_rows.shape[1]
    pool = np.empty(n_terms * width, dtype=np.int64)
    n_pool = 0
    for i in range(n_terms):
        term = unique[order[i]]
        for j in range(width):
            if top_rows[term, j] < 0:
                break
            pool[n_pool] = top_rows[term, j]
            n_pool += 1
    pool = np.unique(pool[:n_pool])
    n_pool = len(pool)
    for p in range(n_pool):
        row = pool[p]
        exact = _exact_score(docs, scores, ends, probe, contribution, n_terms, rank, slot_of, row)
        if exact > 0.0 and (size < k or worse(heap_scores[0], heap_rows[0], exact, row)):
            size = heap_push(heap_scores, heap_rows, size, k, exact, row)

    # 2. every passage of the strongest term
    small_k = k <= width
    seed = n_terms - 1
    seed_term = unique[order[seed]]
    others = prefix[seed - 1] if seed > 0 else 0.0  # every other term together
    others_adds = prefix_adds[seed - 1] if seed > 0 else 0
    for i in range(n_terms):
        probe[i] = cursor[i]
    at_pool = 0
    for seed_block in range(block[seed], block_end[seed]):
        start = cursor[seed] + (seed_block - block[seed]) * BLOCK
        if size == k:
            adds = weight[seed] + others_adds
            bound = _bound(weight[seed] * np.float64(min(block_max[seed_block], rest_max[seed_term])) + others, adds)
            if _cannot_enter(bound, adds, np.float64(heap_scores[0]), docs[start], heap_rows[0], small_k):
                continue  # no passage of this block can enter
        for position in range(start, min(start + BLOCK, ends[seed])):
            row = docs[position]
            if size == k:
                adds = weight[seed] + others_adds
                bound = _bound(weight[seed] * np.float64(min(scores[position], rest_max[seed_term])) + others, adds)
                if _cannot_enter(bound, adds, np.float64(heap_scores[0]), row, heap_rows[0], small_k):
                    continue
            while at_pool < n_pool and pool[at_pool] < row:
                at_pool += 1
            if at_pool < n_pool and pool[at_pool] == row:
                continue  # scored in pass 1
            exact = _exact_score(docs, scores, ends, probe, contribution, n_terms, rank, slot_of, row)
            if exact > 0.0 and (size < k or worse(heap_scores[0], heap_rows[0], exact, row)):
                size = heap_push(heap_scores, heap_rows, size, k, exact, row)

    # 3. MaxScore over the other terms
    seed_cursor = cursor[seed]
    seed_end = ends[seed]
    contribution[seed] = 0.0
    n_terms = seed
    at_pool = 0
    first_essential = 0  # sorted terms below this cannot lift a passage into the top k alone
    while True:
        candidate = _END
        for i in range(first_essential, n_terms):
            if cursor[i] < ends[i] and docs[cursor[i]] < candidate:
                candidate = docs[cursor[i]]
        if candidate == _END:
            break
        if (
            size == k
            and first_essential < n_terms
            and _cannot_enter(
                _bound(prefix[first_essential], prefix_adds[first_essential]),
                prefix_adds[first_essential],
                np.float64(heap_scores[0]),
                candidate,
                heap_rows[0],
                small_k,
            )
        ):
            first_essential += 1  # passages from here on in only these lists cannot enter
            continue
        seed_cursor = _next_geq(docs, seed_cursor, seed_end, candidate)
        while at_pool < n_pool and pool[at_pool] < candidate:
            at_pool += 1
        if (seed_cursor < seed_end and docs[seed_cursor] == candidate) or (
            at_pool < n_pool and pool[at_pool] == candidate
        ):
            for i in range(first_essential, n_terms):  # scored in pass 1 or 2: step over it
                if cursor[i] < ends[i] and docs[cursor[i]] == candidate:
                    cursor[i] += 1
            continue
        partial = 0.0
        partial_adds = 0
        for i in range(first_essential, n_terms):
            contribution[i] = 0.0
            if cursor[i] < ends[i] and docs[cursor[i]] == candidate:
                contribution[i] = scores[cursor[i]]
                partial += weight[i] * np.float64(scores[cursor[i]])
                partial_adds += weight[i]
                cursor[i] += 1
        pruned = False
        for i in range(first_essential - 1, -1, -1):  # non-essential terms, strongest first
            if size == k:
                threshold = np.float64(heap_scores[0])
                adds = partial_adds + prefix_adds[i]
                if _cannot_enter(_bound(partial + prefix[i], adds), adds, threshold, candidate, heap_rows[0], small_k):
                    pruned = True
                    break
                while block[i] < block_end[i] and block_last[block[i]] < candidate:
                    block[i] += 1  # shallow move: the block that would hold the candidate
                here = 0.0
                if block[i] < block_end[i]:
                    here = weight[i] * np.float64(min(block_max[block[i]], rest_max[unique[order[i]]]))
                rest = prefix[i - 1] if i > 0 else 0.0
                rest_adds = prefix_adds[i - 1] if i > 0 else 0
                adds = partial_adds + weight[i] + rest_adds
                bound = _bound(partial + here + rest, adds)
                if _cannot_enter(bound, adds, threshold, candidate, heap_rows[0], small_k):
                    pruned = True
                    break
            cursor[i] = _next_geq(docs, cursor[i], ends[i], candidate)
            contribution[i] = 0.0
            if cursor[i] < ends[i] and docs[cursor[i]] == candidate:
                contribution[i] = scores[cursor[i]]
                partial += weight[i] * np.float64(scores[cursor[i]])
                partial_adds += weight[i]
        if pruned:
            continue
        exact = np.float32(0.0)
        for j in range(n_occurrences):  # bm25s's additions, in bm25s's order
            exact += contribution[rank[slot_of[j]]]
        if exact > 0.0 and (size < k or worse(heap_scores[0], heap_rows[0], exact, candidate)):
            size = heap_push(heap_scores, heap_rows, size, k, exact, candidate)
    write_sorted(heap_scores, heap_rows, size, out_scores, out_rows)
    return size


@numba.njit(cache=True, nogil=True)
def top_k_batch(
    indptr,
    docs,
    scores,
    rest_max,
    min_scores,
    block_ptr,
    block_max,
    block_last,
    top_rows,
    query_terms,
    query_offsets,
    k,
    offsets,
    every_row,
    taat_max_postings,
    dominant_share,
    accumulator,
    marked,
    touched,
    out_scores,
    out_rows,
    out_counts,
) -> None:
    """Rank each query of a batch; query ``b`` is ``query_terms[query_offsets[b]:query_offsets[b + 1]]``
    and its hits go to ``out_scores[b]`` / ``out_rows[b]``, their number to ``out_counts[b]``.

    A query whose terms can score at or below zero, or any query with ``every_row``, takes
    :func:`~searchgym.search.bm25_topk.exhaustive_top_k`. Otherwise a query is ranked by
    :func:`maxscore_top_k` when it has over ``taat_max_postings`` postings, or over
    :data:`MAXSCORE_MIN_POSTINGS` of which one term holds at least ``dominant_share`` (a name
    with one common word: MaxScore never walks that word's list), and by addition
    (:func:`~searchgym.search.bm25_topk.taat_top_k`) else. ``accumulator``, ``marked`` and ``touched`` are
    the caller's scratch arrays (one entry per passage; the first two all zero, and left so).
    """
    for b in range(len(query_offsets) - 1):
        terms = query_terms[query_offsets[b] : query_offsets[b + 1]]
        exhaustive = every_row
        postings = 0
        longest = 0
        for j in range(len(terms)):
            if min_scores[terms[j]] <= 0.0:
                exhaustive = True
            length = indptr[terms[j] + 1] - indptr[terms[j]]
            postings += length
            longest = max(longest, length)
        if exhaustive:
            out_counts[b] = exhaustive_top_k(
                indptr,
                docs,
                scores,
                terms,
                k,
                offsets[b],
                every_row,
                accumulator,
                marked,
                touched,
                out_scores[b],
                out_rows[b],
            )
        elif postings <= taat_max_postings and (
            postings <= MAXSCORE_MIN_POSTINGS or longest < dominant_share * postings
        ):
            out_counts[b] = taat_top_k(indptr, docs, scores, terms, k, accumulator, touched, out_scores[b], out_rows[b])
        else:
            out_counts[b] = maxscore_top_k(
                indptr,
                docs,
                scores,
                rest_max,
                block_ptr,
                block_max,
                block_last,
                top_rows,
                terms,
                k,
                out_scores[b],
                out_rows[b],
            )
