"""Top-k BM25 over a term-major index of precomputed scores: which method ranks a query.

Why a kernel of our own rather than bm25s's ``retrieve`` or a scipy product: both score every
posting of every query term and then select among *all* passages, and a name query pays
~140 µs of Python and scipy set-up for a few postings (issue 18). :func:`top_k_batch` ranks a
batch in one compiled call and picks per query: adding the postings into an accumulator
(:func:`~searchgym.search.bm25_topk.taat_top_k`, 2-4 ns a posting, the fastest for the task
questions of this project's 10k and 100k corpora) or, for very long lists (a 1M corpus) and
for names with one common word, block-max WAND
(:func:`~searchgym.search.bm25_wand.block_max_wand_top_k`), which skips the rows that cannot
reach the top k and hands a query back to addition when it would cost more.

Every method returns bm25s's float32 scores bit for bit (the same additions in the same order)
and breaks ties by corpus order at every rank, the k-th included.

Queries whose terms can score a passage at or below zero (``robertson`` idf is negative for
terms in over half the corpus) and methods that give every passage a score (``bm25l``,
``bm25+``) take :func:`~searchgym.search.bm25_topk.exhaustive_top_k`, which adds every
posting as bm25s does.

All kernels are compiled by numba (cached on disk, so only the first process pays the compile)
and release the GIL, so batches can be split over threads; :func:`top_k_batch`'s cache is
keyed on the sources of the kernels it calls too (:mod:`~searchgym.search.numba_cache`).
"""

from __future__ import annotations

from typing import Final

import numba

from searchgym.search import bm25_topk, bm25_wand
from searchgym.search.bm25_topk import exhaustive_top_k, taat_top_k
from searchgym.search.bm25_wand import block_max_wand_top_k
from searchgym.search.numba_cache import key_on_callees

PRUNING_MIN_POSTINGS: Final = 2_000
"""Below this many postings a query is always ranked by addition (see :func:`top_k_batch`)."""


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
    wand_max_share,
    wand_step_cost,
    scan_min_share,
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
    :func:`~searchgym.search.bm25_topk.exhaustive_top_k`. A query of at most
    ``taat_max_postings`` postings is ranked by addition
    (:func:`~searchgym.search.bm25_topk.taat_top_k`) unless it has over
    :data:`PRUNING_MIN_POSTINGS` of which one term holds at least ``dominant_share`` (a name
    with one common word: WAND never walks that word's list). Any other query is ranked by
    :func:`~searchgym.search.bm25_wand.block_max_wand_top_k`, or by addition where its lists
    that a row cannot do without hold over ``wand_max_share`` of its postings (2: never) or,
    for queries over ``taat_max_postings``, where the steps WAND projects from its sample
    ranges, ``wand_step_cost`` postings each, cost more than its postings (negative: no
    sample; a query sent to WAND by the dominant-term rule alone is not sampled: WAND is cheap
    on it). Addition scans every passage's sum from ``scan_min_share`` postings per passage.
    ``accumulator``, ``marked`` and
    ``touched`` are the caller's scratch arrays (one entry per passage; the first two all
    zero, and left so).
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
            continue
        count = -1
        long_query = postings > taat_max_postings
        if long_query or (postings > PRUNING_MIN_POSTINGS and longest >= dominant_share * postings):
            count = block_max_wand_top_k(
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
                wand_max_share,
                wand_step_cost if long_query else -1.0,
                len(accumulator),
            )
        if count < 0:
            count = taat_top_k(
                indptr, docs, scores, terms, k, accumulator, touched, out_scores[b], out_rows[b], scan_min_share
            )
        out_counts[b] = count


key_on_callees(top_k_batch, bm25_topk, bm25_wand)  # numba's cache would not see a change to them alone
