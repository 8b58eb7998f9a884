"""The depth meter's exact plan search (IDA*), for tasks with few evidence units.

When the meter's bounds differ, this iterative-deepening search over sets of asked queries
finds the exact minimum: its admissible heuristic is, per uncovered unit, the backward BFS
distance from the names known so far to a covering query, so a bound is never passed over.
It is exact and fast for the classic tasks (1-6 units: a few hundred nodes); beyond its node
budget it gives up and the meter keeps its bounds. Deep tasks (10-20 units) use the integer
program of :mod:`searchgym.tasks.plan_milp` instead, whose dual bound stays proven when it
stops early. Kept out of :mod:`searchgym.tasks.depth` so each module has one job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from searchgym.tasks.depth_graph import FAR, MAX_DEPTH

if TYPE_CHECKING:
    from searchgym.tasks.depth import DepthMeter

__all__ = ["exact_search"]


class _BudgetExceeded(Exception):
    pass


def exact_search(
    meter: DepthMeter,
    known: np.ndarray,
    question_rows: np.ndarray,
    question_reveal: np.ndarray,
    units: list[np.ndarray],
    covers: list[np.ndarray],
    lower: int,
    upper: int,
) -> tuple[int, tuple[int, ...]] | None:
    """The exact minimum and a plan of it (``(upper, ())`` when none beats ``upper``), or None
    when the node budget runs out."""
    backward = [meter.backward(cover, upper) for cover in covers]
    question_distance = []
    for index, unit in enumerate(units):
        if np.isin(unit, question_rows).any():
            question_distance.append(1)
        else:
            reached = backward[index][question_reveal] if len(question_reveal) else np.empty(0)
            question_distance.append(int(reached.min()) + 1 if len(reached) and reached.min() < FAR else int(FAR))
    all_units = (1 << len(units)) - 1
    unit_sets = [set(unit.tolist()) for unit in units]
    budget = [meter.node_budget]

    def covered_by(query: int) -> int:
        rows = set((question_rows if query < 0 else meter.results.row(query)).tolist())
        return sum(1 << i for i, unit in enumerate(unit_sets) if unit & rows)

    def heuristic(names: np.ndarray, asked_question: bool, covered: int) -> int:
        worst = 0
        for index in range(len(units)):
            if covered >> index & 1:
                continue
            best = int(backward[index][names].min()) if len(names) else int(FAR)
            if not asked_question:
                best = min(best, question_distance[index])
            if best >= FAR:
                return MAX_DEPTH + 1
            worst = max(worst, best)
        return worst

    def dfs(names: np.ndarray, asked: tuple[int, ...], covered: int, bound: int) -> tuple[int, ...] | None:
        if covered == all_units:
            return asked
        if len(asked) + heuristic(names, -1 in asked, covered) > bound:
            return None
        budget[0] -= 1
        if budget[0] < 0:
            raise _BudgetExceeded
        children = []
        for query in [-1, *names.tolist()]:
            if query in asked:
                continue
            new_cover = covered | covered_by(query)
            revealed = question_reveal if query < 0 else meter.reveal.row(query)
            new_names = np.union1d(names, revealed).astype(np.int64)
            if new_cover == covered and len(new_names) == len(names):
                continue
            score = heuristic(new_names, query < 0 or -1 in asked, new_cover)
            children.append((score, query, new_cover, new_names))
        children.sort(key=lambda child: (child[0], child[1]))
        for _, query, new_cover, new_names in children:
            found = dfs(new_names, (*asked, query), new_cover, bound)
            if found is not None:
                return found
        return None

    try:
        for bound in range(lower, upper):
            found = dfs(known.astype(np.int64), (), 0, bound)
            if found is not None:
                return len(found), tuple(sorted(found))
    except _BudgetExceeded:
        return None
    return upper, ()
