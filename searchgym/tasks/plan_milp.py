"""The fewest retrieval calls of a knowledge-free plan, proven by a mixed-integer program.

:mod:`searchgym.tasks.depth` reduces a task to a *plan graph*: query nodes (a name search, a
page open, the question text), the ones askable at once (``roots``: the question and the names
it states), what each query reveals (the names and pages its results show) and, per evidence
unit, the queries whose results hold one of its passages. A plan is a set of queries each
revealed by another one of the set (or a root) that covers every unit, and its cost is its size:
a node-weighted group Steiner arborescence. Greedy plans only bound it from above, and the
longest reveal chain or a packing of disjoint covers (:mod:`searchgym.tasks.depth_packing`)
from below, loosely once a task has 10-20 units spread over a dozen described entities; the
IDA* search of the depth meter does not finish there within any useful node budget.

This module solves it exactly with HiGHS (``scipy.optimize.milp``), as a multi-commodity flow:
``x[v] = 1`` selects query ``v``; for every unit ``u`` one unit of flow leaves a virtual root
through the roots, may pass a query only if it is selected (``inflow_u(v) <= x[v]``), and is
absorbed only by queries covering ``u``. An integral ``x`` admits the flows exactly when every
unit's cover is reachable through selected queries, so the program's optimum *is*
``min_searches``; its linear relaxation is the directed-cut bound of the Steiner problem (by
max-flow / min-cut per unit), much tighter than one commodity. Cuts ``x[v] <= sum of x over
v's revealers`` (a query of a minimal plan is revealed by one of it) tighten it further.

*Soundness.* Every bound returned is the solver's dual bound (rounded up, less a tolerance:
the objective is an integer), which HiGHS proves at any point of its branch and bound, so a
node limit makes the answer weaker, never wrong. The graph is pruned first, and only of what no
plan of at most ``upper`` queries can use: a query ``v`` carries unit ``u``'s flow only if
``delta(v) + back_u(v) <= upper`` (``delta``: queries needed before ``v`` is askable;
``back_u``: queries from ``v`` to a cover of ``u``, ``v`` included), because the reveal path
through ``v`` to ``u``'s cover holds that many distinct queries of the plan. With a plan of
``upper`` queries known (the meter's greedy one), a minimal plan survives the pruning, so the
pruned optimum still equals ``min_searches``. Tests compare it with brute force on random
graphs and with the exact IDA* where that finishes.

*Cost* (HiGHS 1.x in scipy 1.17, one core, the SearchQA-Hard-v0 test split at top-5; see
``benchmarks/bench_depth_bound.py``): the docstring of :data:`DEFAULT_NODE_LIMIT` gives the
measured figures. The node limit (not a time limit) keeps results deterministic.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

__all__ = ["DEFAULT_NODE_LIMIT", "PlanBound", "PlanGraph", "brute_force_min_plan", "solve_min_plan"]

DEFAULT_NODE_LIMIT = 2_000  # branch-and-bound nodes per task before the dual bound is taken
_UNREACHED = 1 << 20
_TOLERANCE = 1e-4  # the dual bound is a float: round it up only past this much


@dataclass(frozen=True)
class PlanGraph:
    """Query nodes ``0 .. node_count - 1``: which are askable at once, what each reveals, and
    per evidence unit the queries that cover it."""

    node_count: int
    roots: tuple[int, ...]
    reveals: tuple[tuple[int, ...], ...]
    covers: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class PlanBound:
    """A proven lower bound on the fewest queries, and a plan (its size an upper bound) when
    the solver found one; ``exact`` when the two meet."""

    lower: int
    plan: tuple[int, ...] | None
    exact: bool
    nodes: int = 0  # branch-and-bound nodes the solver used


def _levels(starts: Sequence[int], edges: Sequence[Sequence[int]], node_count: int, first: int) -> list[int]:
    """BFS distances over ``edges`` from ``starts`` (which get ``first``)."""
    distance = [_UNREACHED] * node_count
    queue: deque[int] = deque()
    for s in starts:
        if distance[s] == _UNREACHED:
            distance[s] = first
            queue.append(s)
    while queue:
        node = queue.popleft()
        for other in edges[node]:
            if distance[other] == _UNREACHED:
                distance[other] = distance[node] + 1
                queue.append(other)
    return distance


def _revealers(graph: PlanGraph) -> list[list[int]]:
    by: list[list[int]] = [[] for _ in range(graph.node_count)]
    for node, revealed in enumerate(graph.reveals):
        for other in revealed:
            if other != node:
                by[other].append(node)
    return by


def solve_min_plan(graph: PlanGraph, upper: int, node_limit: int = DEFAULT_NODE_LIMIT) -> PlanBound:
    """The fewest queries of a plan of ``graph`` among plans of at most ``upper`` queries (see
    the module docstring). When none of at most ``upper`` exists, ``lower = upper + 1`` and
    no plan: with ``upper`` one below a known plan's size, that proves the known plan minimal."""
    if not graph.covers:
        return PlanBound(0, (), True)
    revealers = _revealers(graph)
    delta = _levels(graph.roots, graph.reveals, graph.node_count, 0)
    backs = [_levels(cover, revealers, graph.node_count, 1) for cover in graph.covers]
    if any(min(back[v] + delta[v] for v in range(graph.node_count)) > upper for back in backs):
        return PlanBound(upper + 1, None, False)  # some unit lies beyond every plan of <= upper
    # y[(v, l)]: query v at level l (its distance from the roots within the plan)
    variable: dict[tuple[int, int], int] = {}
    for v in range(graph.node_count):
        for level in range(delta[v], upper - min(back[v] for back in backs) + 1):
            variable[(v, level)] = len(variable)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    low: list[float] = []
    high: list[float] = []

    def row(entries: Sequence[int], signs: Sequence[float], lower: float, upper_: float) -> None:
        index = len(low)
        rows.extend([index] * len(entries))
        cols.extend(entries)
        vals.extend(signs)
        low.append(lower)
        high.append(upper_)

    levels_of: dict[int, list[int]] = {}
    for (v, level), index in variable.items():
        levels_of.setdefault(v, []).append(index)
        if level > 0:  # a query below the roots has a revealer one level up
            parents = [variable[(p, level - 1)] for p in revealers[v] if (p, level - 1) in variable]
            row([index, *parents], [1.0] + [-1.0] * len(parents), -math.inf, 0.0)
    for indexes in levels_of.values():  # one level per query
        if len(indexes) > 1:
            row(indexes, [1.0] * len(indexes), -math.inf, 1.0)
    for cover in graph.covers:  # every unit covered
        covering = [i for v in cover for i in levels_of.get(v, ())]
        row(covering, [1.0] * len(covering), 1.0, math.inf)
    count = len(variable)
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(low), count)).tocsr()
    # HiGHS's objective_bound is a cutoff: only plans of <= upper queries are searched for, so
    # reduced-cost fixing prunes from the start (scipy passes it through, with a warning).
    options = {"node_limit": node_limit, "presolve": True, "mip_rel_gap": 0.0, "objective_bound": upper + 0.5}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
        result = milp(
            np.ones(count),
            integrality=np.ones(count),
            bounds=Bounds(0.0, 1.0),
            constraints=LinearConstraint(matrix, low, high),
            options=options,
        )
    nodes = int(getattr(result, "mip_node_count", 0) or 0)
    if result.status == 2:  # infeasible: no plan of <= upper queries
        return PlanBound(upper + 1, None, False, nodes)
    dual = getattr(result, "mip_dual_bound", None)
    lower = max(1, math.ceil(dual - _TOLERANCE)) if dual is not None and math.isfinite(dual) else 1
    lower = min(lower, upper + 1)
    if result.x is None:
        return PlanBound(lower, None, False, nodes)
    chosen = sorted({v for (v, _), index in variable.items() if result.x[index] > 0.5})
    plan = _reachable_part(graph, chosen)
    if not _covers_all(graph, plan):  # pragma: no cover - the level constraints make it valid
        raise AssertionError("the integer program returned an invalid plan")
    return PlanBound(min(lower, len(plan)), plan, lower >= len(plan), nodes)


def _reachable_part(graph: PlanGraph, chosen: Sequence[int]) -> tuple[int, ...]:
    """The queries of ``chosen`` askable in some order (the rest can be dropped)."""
    pool = set(chosen)
    askable = [v for v in graph.roots if v in pool]
    seen = set(askable)
    while askable:
        node = askable.pop()
        for other in graph.reveals[node]:
            if other in pool and other not in seen:
                seen.add(other)
                askable.append(other)
    return tuple(sorted(seen))


def _covers_all(graph: PlanGraph, plan: Sequence[int]) -> bool:
    chosen = set(plan)
    return all(chosen.intersection(cover) for cover in graph.covers)


def brute_force_min_plan(graph: PlanGraph, limit: int = 12) -> int | None:
    """The fewest queries by trying every set in order of size (small graphs only; the tests'
    reference). None when no plan of at most ``limit`` queries exists."""
    from itertools import combinations

    for size in range(0 if not graph.covers else 1, min(limit, graph.node_count) + 1):
        for subset in combinations(range(graph.node_count), size):
            if len(_reachable_part(graph, subset)) == size and _covers_all(graph, subset):
                return size
    return None
