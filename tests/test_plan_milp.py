"""The integer program's depth: never above the true minimum, equal to it when it finishes,
and equal to the exact IDA* search of the depth meter on real tasks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchgym.search.bm25 import BM25Engine
from searchgym.tasks.depth import QUESTION, DepthMeter, DepthQuery
from searchgym.tasks.plan_milp import PlanGraph, brute_force_min_plan, solve_min_plan


@st.composite
def plan_graphs(draw: st.DrawFn) -> PlanGraph:
    """Random small plan graphs: a few roots, sparse reveals (self-reveals allowed), 1-4 units."""
    n = draw(st.integers(1, 9))
    nodes = st.integers(0, n - 1)
    roots = tuple(sorted(draw(st.sets(nodes, min_size=1, max_size=min(2, n)))))
    reveals = tuple(tuple(sorted(draw(st.sets(nodes, max_size=3)))) for _ in range(n))
    covers = tuple(tuple(sorted(draw(st.sets(nodes, min_size=1, max_size=3))))
                   for _ in range(draw(st.integers(1, 4))))
    return PlanGraph(n, roots, reveals, covers)


def _is_plan(graph: PlanGraph, plan: tuple[int, ...]) -> bool:
    """Askable in some order (each a root or revealed by an earlier one) and covering every unit."""
    chosen, askable, asked = set(plan), set(graph.roots), set()
    while True:
        ready = (chosen & askable) - asked
        if not ready:
            break
        for node in ready:
            asked.add(node)
            askable.update(graph.reveals[node])
    return asked == chosen and all(chosen.intersection(cover) for cover in graph.covers)


@settings(max_examples=300, deadline=None)
@given(plan_graphs())
def test_the_program_finds_the_brute_force_minimum(graph):
    truth = brute_force_min_plan(graph)
    bound = solve_min_plan(graph, upper=graph.node_count)
    if truth is None:  # no plan at all: the bound says none of <= node_count queries exists
        assert bound.lower > graph.node_count and bound.plan is None
        return
    assert bound.exact and bound.lower == truth
    assert bound.plan is not None and len(bound.plan) == truth and _is_plan(graph, bound.plan)


@settings(max_examples=200, deadline=None)
@given(plan_graphs(), st.integers(0, 3))
def test_a_cut_short_solve_or_a_tight_upper_bound_never_overstates_the_minimum(graph, slack):
    truth = brute_force_min_plan(graph)
    if truth is None:
        return
    # a node limit of 1 stops at the root relaxation; the pruning radius is any valid plan size
    bound = solve_min_plan(graph, upper=truth + slack, node_limit=1)
    assert bound.lower <= truth
    if bound.plan is not None:
        assert _is_plan(graph, bound.plan) and len(bound.plan) >= truth


def test_a_chain_needs_every_link_and_a_shared_query_is_counted_once():
    chain = PlanGraph(4, (0,), ((1,), (2,), (3,), ()), ((3,),))
    assert solve_min_plan(chain, upper=4) == solve_min_plan(chain, upper=4) and solve_min_plan(chain, upper=4).lower == 4
    # two units behind one hub: root, hub, and one query per unit
    hub = PlanGraph(4, (0,), ((1,), (2, 3), (), ()), ((2,), (3,)))
    assert solve_min_plan(hub, upper=4).plan == (0, 1, 2, 3)
    # the two units on one page: root and that query
    shared = PlanGraph(3, (0,), ((1, 2), (), ()), ((1,), (1,)))
    bound = solve_min_plan(shared, upper=3)
    assert bound.exact and bound.plan == (0, 1)
    # an upper bound below the minimum: proven impossible, and the bound says so
    assert solve_min_plan(chain, upper=3).lower == 4


@pytest.mark.slow
def test_the_program_equals_the_exact_ida_search_on_real_tasks(small_bundle):
    """Where the meter's IDA* search is exact, the integer program finds the same minimum."""
    engine = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False)
    meter = DepthMeter(small_bundle.world, small_bundle.corpus, engine, 3)
    tasks = [t for t in small_bundle.tasks if t.hops >= 2 or len(t.evidence) >= 2][:60]
    pairs = list(zip(tasks[::2], tasks[1::2]))
    queries = [DepthQuery(a.question, a.evidence + b.evidence) for a, b in pairs]
    proven = [DepthQuery(q.question, q.units, prove=64) for q in queries]
    compared = 0
    for ida, milp in zip(meter.measure_many(queries), meter.measure_many(proven)):
        if ida.min_searches is None:
            assert milp.min_searches is None
            continue
        assert milp.lower_bound <= ida.min_searches  # never above a plan the search found
        if ida.exact:
            assert milp.exact and milp.min_searches == ida.min_searches
            compared += 1
        assert all(step == QUESTION or step.startswith("open:") or step in small_bundle.world.entities
                   for step in milp.plan)
    assert compared >= 10
