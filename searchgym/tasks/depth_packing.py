"""The packing lower bound on ``min_searches``: units that no single query covers together.

Kept apart from :mod:`searchgym.tasks.depth` because it is pure combinatorics on the covers
(no engine, no graph walk): the meter applies it before its exact searches, which it makes
cheaper (a higher starting bound), and it is tested against exhaustive minima on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["packing_bound"]


def _packing(sets: list[set[int]], limit: int) -> list[int]:
    """Indexes of the most sets no two of which intersect: exact (a maximum independent set by
    branch and bound) for up to ``limit`` sets, else greedy from the smallest sets."""
    order = sorted(range(len(sets)), key=lambda i: (len(sets[i]), i))
    if len(sets) > limit:
        used: set[int] = set()
        chosen = []
        for i in order:
            if not sets[i] & used:
                used |= sets[i]
                chosen.append(i)
        return chosen
    conflict = [sum(1 << j for j in range(len(sets)) if j != i and sets[i] & sets[j]) for i in range(len(sets))]
    best: list[int] = []

    def grow(candidates: int, taken: list[int]) -> None:
        if len(taken) + bin(candidates).count("1") <= len(best):
            return
        if not candidates:
            best[:] = taken
            return
        i = (candidates & -candidates).bit_length() - 1
        grow(candidates & ~conflict[i] & ~(1 << i), [*taken, i])  # take set i
        grow(candidates & ~(1 << i), taken)  # or leave it out

    grow((1 << len(sets)) - 1, [])
    return best


def packing_bound(
    covers: Sequence[np.ndarray], question_covers: Sequence[bool], costs: Sequence[int], limit: int = 24
) -> int:
    """A lower bound on ``min_searches`` from units that share no covering query.

    Take units ``S`` no two of which one query covers (a maximum packing): each needs a query
    of its own. Take ``u`` in ``S`` of cost ``c``: every query covering it needs ``c - 1``
    searches first, so a plan holds a reveal chain of some ``L >= c - 1`` queries before the one
    covering ``u``; the chain's ``i``-th query is askable after ``i`` searches, so it covers at
    most one unit of ``S`` (they are disjoint), and only one of cost ``<= i + 1``. Every plan
    therefore has at least ``min over L >= c - 1`` of ``L + 1 + (|S| - 1) - min(L, #{v in S - {u}:
    cost(v) <= L})`` calls; the bound is the best over ``u`` (and at least ``|S|``)."""
    sets = [
        set(cover.tolist()) | ({-1} if by_question else set()) for cover, by_question in zip(covers, question_covers)
    ]
    packed = _packing(sets, limit)
    best = len(packed)
    for u in packed:
        others = [costs[v] for v in packed if v != u]
        chains = (
            length + len(packed) - min(length, sum(1 for c in others if c <= length))
            for length in range(costs[u] - 1, costs[u] + len(packed))
        )
        best = max(best, min(chains))
    return best
