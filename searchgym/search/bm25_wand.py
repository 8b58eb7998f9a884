"""Block-max WAND over a term-major index of precomputed BM25 scores, exact to bm25s's float32.

Why a module of its own: :mod:`~searchgym.search.bm25_kernel` decides which method ranks a
query; this is the one that skips work. Document-at-a-time with dynamic pruning (Broder et al.,
2003; Ding & Suel, 2011): the lists are walked in row order and probed by galloping search, and
a row is scored only where enough strong lists meet for it to reach the top k.

Exactness: a passage's score is the float32 sum of its per-term scores *in query order*, each
occurrence of a repeated query term counted again: the very additions, in the very order, that
bm25s's ``get_scores`` makes, so scores are bit-identical to bm25s's. Pruning bounds are
kept in float64 and widened by the most that the float32 additions they stand for can round up
(nothing for a single term), so no passage that could enter the top k is ever skipped. Ties are
broken by corpus order at every rank, the k-th included: a bound equal to the k-th score still
admits a passage of lower row than the k-th hit's.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np

from searchgym.search import bm25_topk
from searchgym.search.bm25_topk import heap_push, worse, write_sorted
from searchgym.search.numba_cache import key_on_callees

_END: Final = np.iinfo(np.int32).max
SAMPLE_RANGES: Final = 4
SAMPLE_ROWS: Final = 0.01
"""WAND first walks :data:`SAMPLE_RANGES` row ranges of this share of the corpus each, spread
over it, and projects its cost from them (see :func:`block_max_wand_top_k`)."""


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
def _query_order_sum(contribution, slot_of) -> np.float32:
    """bm25s's float32 score from each distinct term's ``contribution``: the additions it makes,
    one per occurrence (``slot_of`` maps occurrences to distinct terms), in query order."""
    exact = np.float32(0.0)
    for j in range(len(slot_of)):
        exact += contribution[slot_of[j]]
    return exact


@numba.njit(cache=True, nogil=True)
def _exact_score(docs, scores, ends, probe, contribution, n_terms, slot_of, row) -> np.float32:
    """bm25s's float32 score of ``row``: every list probed from ``probe`` (moved forward, so
    rows must be asked in increasing order), contributions added in query order."""
    for i in range(n_terms):
        probe[i] = _next_geq(docs, probe[i], ends[i], row)
        contribution[i] = scores[probe[i]] if probe[i] < ends[i] and docs[probe[i]] == row else 0.0
    return _query_order_sum(contribution, slot_of)


@numba.njit(cache=True, nogil=True)
def _distinct_terms(query_terms):
    """``(unique, count, slot_of, n)``: the query's distinct terms in first-occurrence order,
    how often each occurs, and which distinct term each occurrence is."""
    n_occurrences = len(query_terms)
    unique = np.empty(n_occurrences, dtype=np.int64)
    count = np.zeros(n_occurrences, dtype=np.int64)
    slot_of = np.empty(n_occurrences, dtype=np.int64)
    n = 0
    for j in range(n_occurrences):
        found = -1
        for u in range(n):
            if unique[u] == query_terms[j]:
                found = u
                break
        if found < 0:
            found = n
            unique[n] = query_terms[j]
            n += 1
        count[found] += 1
        slot_of[j] = found
    return unique, count, slot_of, n


@numba.njit(cache=True, nogil=True)
def _sort_moved(by_doc, moved, live, current) -> None:
    """Put ``by_doc[:moved]`` (lists whose row moved forward) back in row order among the
    sorted ``by_doc[moved:live]``."""
    for a in range(moved - 1, -1, -1):
        t = by_doc[a]
        b = a
        while b + 1 < live and current[by_doc[b + 1]] < current[t]:
            by_doc[b] = by_doc[b + 1]
            b += 1
        by_doc[b] = t


@numba.njit(cache=True, nogil=True)
def _move_to_front(by_doc, a) -> None:
    """Move ``by_doc[a]`` to the front, the lists before it one place back (their order kept)."""
    t = by_doc[a]
    for b in range(a, 0, -1):
        by_doc[b] = by_doc[b - 1]
    by_doc[0] = t


@numba.njit(cache=True, nogil=True)
def _essential_share(term_max, postings, ends, cursor, full, threshold) -> float:
    """WAND's work over addition's, estimated: the postings of the lists a row needs to reach
    ``threshold`` (every list but the weakest, whose bounds together stay below it; all of
    them while the top k is not ``full``), each list once as WAND walks it, over the query's
    ``postings`` (every occurrence of a repeated term counted, as addition adds them)."""
    unique_postings = 0.0
    for i in range(len(term_max)):
        unique_postings += np.float64(ends[i] - cursor[i])
    if not full or postings == 0.0:
        return 1.0
    order = np.argsort(term_max)
    total = 0.0
    weak = 0.0
    for i in order:
        total += term_max[i]
        if total >= threshold:
            break
        weak += np.float64(ends[i] - cursor[i])
    return (unique_postings - weak) / postings


@numba.njit(cache=True, nogil=True)
def _row_ranges(num_rows, sampled):
    """Row ranges ``(lo, hi)`` that together hold every row once: with ``sampled``, the
    :data:`SAMPLE_RANGES` sample ranges first (spread evenly over the corpus), then the rows
    between and around them; else one range."""
    if not sampled:
        ranges = np.empty((1, 2), dtype=np.int64)
        ranges[0, 0] = 0
        ranges[0, 1] = _END
        return ranges
    width = max(1, int(np.ceil(num_rows * SAMPLE_ROWS)))
    ranges = np.empty((2 * SAMPLE_RANGES + 1, 2), dtype=np.int64)
    previous_end = 0
    for j in range(SAMPLE_RANGES):
        lo = max(previous_end, (2 * j + 1) * num_rows // (2 * SAMPLE_RANGES) - width // 2)
        hi = max(lo, min(lo + width, num_rows))
        ranges[j, 0] = lo
        ranges[j, 1] = hi
        ranges[SAMPLE_RANGES + j, 0] = previous_end  # the rows before this sample
        ranges[SAMPLE_RANGES + j, 1] = lo
        previous_end = hi
    ranges[2 * SAMPLE_RANGES, 0] = previous_end
    ranges[2 * SAMPLE_RANGES, 1] = _END
    return ranges


@numba.njit(cache=True, nogil=True)
def _enter_range(
    docs, indptr, block_ptr, block_last, unique, term_max, ends, row_lo, row_hi, cursor, stop, current, block, by_doc
) -> int:
    """Put every list that can add to a row outside pass 1's pool at its first row in
    ``[row_lo, row_hi)`` (``stop``: its first position past the range; ``block``: the block
    holding that row), and those with such rows in ``by_doc`` in row order; returns how many."""
    live = 0
    for i in range(len(term_max)):  # the distinct terms (``unique`` has room for every occurrence)
        current[i] = _END
        if term_max[i] <= 0.0:
            continue  # every row of the list is in the pool
        term = unique[i]
        cursor[i] = _next_geq(docs, indptr[term], ends[i], row_lo)
        stop[i] = _next_geq(docs, cursor[i], ends[i], row_hi)
        if cursor[i] < stop[i]:
            current[i] = docs[cursor[i]]
            first = block_ptr[term]
            block[i] = first + np.searchsorted(block_last[first : block_ptr[term + 1]], row_lo)
            by_doc[live] = i
            live += 1
    _sort_moved(by_doc, live, live, current)
    return live


@numba.njit(cache=True, nogil=True)
def block_max_wand_top_k(
    indptr,
    docs,
    scores,
    rest_max,
    block_ptr,
    block_max,
    block_last,
    top_rows,
    query_terms,
    k,
    out_scores,
    out_rows,
    max_essential_share=2.0,
    step_cost=-1.0,
    num_rows=0,
) -> int:
    """Top ``k`` of one query (term ids, repeats allowed) by block-max WAND; returns the hit
    count, or -1 when it gave up (see ``max_essential_share`` and ``step_cost``).

    Every posting score of the query's terms must be positive. ``block_*`` are the block-max
    bounds of :func:`~searchgym.search.bm25_bounds.build_blocks`, ``top_rows`` each term's best rows
    and ``rest_max`` the best score among its other rows (:func:`~searchgym.search.bm25_bounds.build_top_rows`).

    1. The best rows of every query term are scored exactly, so the top k starts full of
       strong passages and the threshold is high from the first step.
    2. Block-max WAND (Ding & Suel, 2011) over the lists, skipping pass 1's rows: the lists are
       kept in order of their current row; the *pivot* is the first list whose bound, added to
       the bounds of the lists before it, could lift a row into the top k. No row before the
       pivot's row can enter (it holds only the lists before the pivot), so the list just
       before the pivot row jumps to it by galloping search. At the pivot row, the block maxima
       of those lists bound every row up to the end of the first of their blocks; if that bound
       cannot enter, the strongest of those lists jumps past it. A row is scored only when
       every list that reaches the pivot's bound is at that row.

    Why WAND rather than MaxScore (the kernel before it): the task questions of a 1M-passage
    corpus hold 6-12 terms of similar weight, and a row must hold several of them to enter;
    MaxScore visits every row of every list it cannot prove weak, WAND only the rows where
    enough lists meet (bench_retrieval.py at 1M, questions one at a time, 2026-12-03 15:28:
    1.00x PISA's time by median call, where MaxScore took 1.80x at 12:25).
    A bound equal to the threshold still admits rows below the worst hit's (ties go to the
    lower row), which is why every pruning test takes the row into account.

    WAND is fast when a row must hold several strong terms to enter and slow when many long
    lists of alike weight keep meeting, and which one a query is shows only as WAND runs. Two
    checks hand a slow query back to the caller, who adds its postings instead (-1):

    * after pass 1, the lists a row could not do without (all but the weakest, whose bounds
      together stay below the threshold) hold over ``max_essential_share`` of the query's
      postings. So does a query whose pool cannot fill the top k (k over 16 rows per distinct
      term): its threshold is zero, every list is indispensable;
    * with ``step_cost >= 0`` (and ``num_rows``, the corpus's passages), WAND first walks
      :data:`SAMPLE_RANGES` ranges of :data:`SAMPLE_ROWS` of the rows each, spread over the
      corpus, counts its steps there and projects them to every row: if the projected steps,
      ``step_cost`` postings' additions each, cost more than adding the query's postings, it
      gives up (a sample at the start of the corpus would not do: the corpus is in world
      order, and in a scratch study of 400 questions at 1M, not recorded, a 4% prefix
      predicted WAND's steps far worse than four spread ranges). Otherwise it walks the rest.
      On the 1.4M-passage corpus's task questions, handing back by share alone takes
      0.81-1.04x addition's time, by share or sample 0.71-0.72x (per-query best of WAND and
      addition: 0.61-0.63x; ``benchmarks/bench_bm25_methods.py``, runs of 2026-12-03 18:36
      and 18:53). On 142k passages WAND loses to addition even so (1.08-1.29x), which is why
      smaller corpora keep addition up to
      :data:`~searchgym.search.bm25_index.TAAT_MAX_POSTINGS`.
    """
    unique, count, slot_of, n_terms = _distinct_terms(query_terms)
    cursor = np.empty(n_terms, dtype=np.int64)
    ends = np.empty(n_terms, dtype=np.int64)
    term_max = np.empty(n_terms, dtype=np.float64)  # occurrences x best score outside pass 1's pool
    postings = 0.0  # as addition counts them: every occurrence of a term adds its list
    for i in range(n_terms):
        term = unique[i]
        cursor[i] = indptr[term]
        ends[i] = indptr[term + 1]
        term_max[i] = count[i] * np.float64(rest_max[term])
        postings += count[i] * np.float64(ends[i] - cursor[i])
    heap_scores = np.empty(k, dtype=np.float32)
    heap_rows = np.empty(k, dtype=np.int64)
    size = 0
    contribution = np.zeros(n_terms, dtype=np.float32)

    # 1. the best rows of each term
    width = top_rows.shape[1]
    pool = np.empty(n_terms * width, dtype=np.int64)
    n_pool = 0
    for i in range(n_terms):
        for j in range(width):
            if top_rows[unique[i], j] < 0:
                break
            pool[n_pool] = top_rows[unique[i], j]
            n_pool += 1
    pool = np.unique(pool[:n_pool])
    n_pool = len(pool)
    probe = cursor.copy()
    for p in range(n_pool):
        row = pool[p]
        exact = _exact_score(docs, scores, ends, probe, contribution, n_terms, slot_of, row)
        if exact > 0.0 and (size < k or worse(heap_scores[0], heap_rows[0], exact, row)):
            size = heap_push(heap_scores, heap_rows, size, k, exact, row)
    small_k = k <= width
    if max_essential_share < 1.0 and _essential_share(term_max, postings, ends, cursor, size == k, heap_scores[0]) > (
        max_essential_share
    ):
        return -1

    # 2. block-max WAND, range by range; a list whose every row is in the pool adds nothing outside it
    sampled = step_cost >= 0.0 and num_rows > 0
    ranges = _row_ranges(num_rows, sampled)
    by_doc = np.empty(n_terms, dtype=np.int64)  # live lists, by their current row
    current = np.empty(n_terms, dtype=np.int64)  # each list's current row (_END once past the range)
    stop = np.empty(n_terms, dtype=np.int64)  # each list's first position past the range
    block = np.empty(n_terms, dtype=np.int64)  # each list's current block (shallow moves only)
    steps = 0
    for r in range(len(ranges)):
        if sampled and r == SAMPLE_RANGES:  # the samples are walked: project their steps
            sampled_rows = 0
            for j in range(SAMPLE_RANGES):
                sampled_rows += ranges[j, 1] - ranges[j, 0]
            if steps * step_cost * num_rows > postings * max(sampled_rows, 1):
                return -1
        row_lo = ranges[r, 0]
        live = _enter_range(
            docs, indptr, block_ptr, block_last, unique, term_max, ends, row_lo, ranges[r, 1], cursor, stop,
            current, block, by_doc,
        )  # fmt: skip
        at_pool = np.searchsorted(pool, row_lo)
        while live > 0:
            steps += 1
            full = size == k
            threshold = np.float64(heap_scores[0]) if full else 0.0
            worst_row = heap_rows[0] if full else 0
            pivot = -1
            total = 0.0
            adds = 0
            for a in range(live):
                t = by_doc[a]
                total += term_max[t]
                adds += count[t]
                if not full or not _cannot_enter(_bound(total, adds), adds, threshold, current[t], worst_row, small_k):
                    pivot = a
                    break
            if pivot < 0:
                break  # no row left in the range can enter (a live list is never at _END)
            row = current[by_doc[pivot]]
            last = pivot  # every list at the pivot row
            while last + 1 < live and current[by_doc[last + 1]] == row:
                last += 1
            if full:
                bound = 0.0
                adds = 0
                skip_to = current[by_doc[last + 1]] if last + 1 < live else _END
                for a in range(last + 1):
                    t = by_doc[a]
                    term = unique[t]
                    while block[t] < block_ptr[term + 1] and block_last[block[t]] < row:
                        block[t] += 1  # shallow move: the block that would hold the row
                    if block[t] < block_ptr[term + 1]:
                        bound += count[t] * min(np.float64(block_max[block[t]]), np.float64(rest_max[term]))
                        adds += count[t]
                        skip_to = min(skip_to, block_last[block[t]] + 1)
                if _cannot_enter(_bound(bound, adds), adds, threshold, row, worst_row, small_k):
                    strongest = 0  # no row before skip_to can enter
                    for a in range(1, last + 1):
                        if term_max[by_doc[a]] > term_max[by_doc[strongest]]:
                            strongest = a
                    t = by_doc[strongest]
                    cursor[t] = _next_geq(docs, cursor[t], stop[t], skip_to)
                    current[t] = docs[cursor[t]] if cursor[t] < stop[t] else _END
                    _move_to_front(by_doc, strongest)
                    _sort_moved(by_doc, 1, live, current)
                    while live > 0 and current[by_doc[live - 1]] == _END:
                        live -= 1
                    continue
            if current[by_doc[0]] != row:  # a list before the pivot row: bring it up to the row
                a = pivot
                while current[by_doc[a]] == row:
                    a -= 1
                t = by_doc[a]
                cursor[t] = _next_geq(docs, cursor[t], stop[t], row)
                current[t] = docs[cursor[t]] if cursor[t] < stop[t] else _END
                _move_to_front(by_doc, a)
                moved = 1
            else:  # every list that can reach the threshold is at the row: score it
                while at_pool < n_pool and pool[at_pool] < row:
                    at_pool += 1
                if not (at_pool < n_pool and pool[at_pool] == row):
                    for i in range(n_terms):
                        contribution[i] = 0.0
                    for a in range(last + 1):
                        contribution[by_doc[a]] = scores[cursor[by_doc[a]]]
                    exact = _query_order_sum(contribution, slot_of)
                    if exact > 0.0 and (size < k or worse(heap_scores[0], heap_rows[0], exact, row)):
                        size = heap_push(heap_scores, heap_rows, size, k, exact, row)
                for a in range(last + 1):
                    t = by_doc[a]
                    cursor[t] += 1
                    current[t] = docs[cursor[t]] if cursor[t] < stop[t] else _END
                moved = last + 1
            _sort_moved(by_doc, moved, live, current)
            while live > 0 and current[by_doc[live - 1]] == _END:
                live -= 1
    write_sorted(heap_scores, heap_rows, size, out_scores, out_rows)
    return size


key_on_callees(block_max_wand_top_k, bm25_topk)  # numba's cache would not see a change to it alone
