"""Obfuscated multi-constraint tasks: exact descriptors, proven-unique answers, stated
constraints, honest depth bounds, tiers, and classic specs left unchanged."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchgym.search.bm25 import BM25Engine
from searchgym.search.grounding import Grounder
from searchgym.tasks import TaskOptions
from searchgym.tasks.depth import DepthMeter, DepthQuery, packing_bound
from searchgym.tasks.fuzzy import attribute_forms
from searchgym.tasks.subgraph import Node, count_solutions, neighbours
from searchgym.tasks.tiers import TOP_TIER_DEPTH, tier, tier_of
from searchgym.world.schema import AttributeSpec

DEEP_OPTIONS = TaskOptions(per_type=8, types=("obfuscated",), obfuscated_relations=(3, 5), depth_top_k=5)


@pytest.fixture(scope="module")
def deep_bundle():
    from searchgym.bundle import build_bundle

    return build_bundle("default", 400, 3, task_options=DEEP_OPTIONS)


@pytest.fixture(scope="module")
def deep_tasks(deep_bundle):
    tasks = [t for t in deep_bundle.tasks if t.task_type == "obfuscated"]
    assert len(tasks) >= 8
    return tasks


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["year", "int"]), st.integers(1000, 3_000_000))
def test_every_descriptor_is_strictly_true_of_its_value_and_loose_reading_contains_strict(kind, value):
    if kind == "year":
        value = 1000 + value % 1025
    spec = AttributeSpec("a", kind, 0, 10**8)
    for form in attribute_forms(spec, value):
        lo, hi = form.strict_low, form.strict_high
        assert (lo is None or lo <= value) and (hi is None or value <= hi), form
        assert (form.low is None or (lo is not None and form.low <= lo)), form
        assert (form.high is None or (hi is not None and hi <= form.high)), form


def _brute_force_solutions(world, root: Node) -> int:
    """Assignments counted by enumerating every combination of admitted entities (no DP)."""
    nodes = [node for node, _ in root.walk()]
    options = []
    for node in nodes:
        if node.named:
            options.append([node.entity])
        else:
            options.append([e for e in world.of_type(node.type) if all(d.admits(world.entity(e)) for d in node.descriptors)])
    index = {id(node): i for i, node in enumerate(nodes)}
    total = 0
    for combo in itertools.product(*options):
        if all(combo[index[id(edge.child)]] in neighbours(world, combo[index[id(node)]], edge.relation, edge.forward)
               for node in nodes for edge in node.edges):
            total += 1
    return total


def test_solution_counts_equal_exhaustive_enumeration(deep_bundle):
    from searchgym.tasks.deep import ObfuscatedMaker

    world = deep_bundle.world
    maker = ObfuscatedMaker(world, np.random.default_rng(7))
    checked = 0
    for _ in range(40):
        root = maker.tree(2)
        if root is None:
            continue
        counts = count_solutions(world, root)
        assert sum(counts.values()) == 1 == _brute_force_solutions(world, root)
        assert list(counts) == [root.entity]
        # without the answer's own descriptors the tree may fit more entities, counted identically
        root.descriptors.clear()
        assert sum(count_solutions(world, root).values()) == _brute_force_solutions(world, root)
        checked += 1
        if checked == 4:
            break
    assert checked == 4


def test_obfuscated_tasks_name_no_entity_and_state_every_constraint(deep_bundle, deep_tasks):
    world, corpus = deep_bundle.world, deep_bundle.corpus
    grounder = Grounder(world, max_edit_distance=0)
    for task in deep_tasks:
        named = {m.entity_id for m in grounder.mentions(task.question)}
        tree_entities = {s.subject for s in task.chain} | {s.object for s in task.chain if isinstance(s.object, str)}
        assert not named & tree_entities, task.question
        assert world.name(task.meta["answer_entity"]) == task.answer
        assert 3 <= task.meta["constraints"] <= 8
        assert len(task.evidence) == len(task.chain)
        for step, unit in zip(task.chain, task.evidence):
            assert unit and all(step.fact_id in corpus[d].facts for d in unit)
        # the tier rests on the proven depth, never on the plan
        assert task.meta["tier"] == tier_of(task) == tier(task.meta["depth_lower_bound"],
                                                          task.meta["constraints"] + task.meta["relations"])
        assert task.meta["depth_lower_bound"] <= task.min_searches
        assert task.meta["depth_exact"] or task.meta["depth_lower_bound"] >= TOP_TIER_DEPTH


def test_packing_bound_never_exceeds_an_exhaustive_minimum(small_bundle):
    from test_depth import _brute_force

    engine = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False)
    meter = DepthMeter(small_bundle.world, small_bundle.corpus, engine, 3)
    chains = [t for t in small_bundle.tasks if t.task_type in ("chain", "comparison") and t.min_searches <= 2]
    checked = 0
    for first, second in zip(chains[::2], chains[1::2]):  # two tasks' evidence as one multi-unit query
        query = DepthQuery(first.question, first.evidence + second.evidence, packing=True)
        (depth,) = meter.measure_many([query])
        if depth.min_searches is None or depth.min_searches > 4:
            continue
        assert depth.lower_bound <= _brute_force(meter, query, depth.min_searches)
        checked += 1
        if checked == 5:
            break
    assert checked >= 3


def test_packing_bound_counts_disjoint_units_and_reveal_chains():
    covers = [np.array([1, 2]), np.array([3]), np.array([4, 5])]
    assert packing_bound(covers, [False] * 3, [1, 1, 1]) == 3
    assert packing_bound([np.array([1, 2]), np.array([2, 3])], [False, False], [1, 1]) == 1
    # a unit 5 searches away, the two others cheap: its chain of 4 may cover both, no more
    assert packing_bound(covers, [False] * 3, [5, 1, 1]) == 5
    # two units 4 away: the chain to one (3 queries) covers the cheap unit at most, not the other
    assert packing_bound(covers, [False] * 3, [1, 4, 4]) == 5
    # a cheap unit behind a deep one: a longer chain may cover the unit of cost 3 as well
    assert packing_bound(covers, [False] * 3, [2, 3, 1]) == 3


@pytest.mark.parametrize(("depth", "constraints", "expected"), [
    (1, 9, 1), (3, 1, 2), (4, 4, 3), (6, 3, 4), (8, 4, 4), (8, 5, 5), (12, 12, 5), (9, 2, 3),
])
def test_tiers_cap_depth_by_constraints(depth, constraints, expected):
    assert tier(depth, constraints) == expected


def test_classic_task_options_keep_their_keys():
    """Adding the deep families must not move a single classic task (keys seed generation)."""
    assert TaskOptions().key() == TaskOptions(obfuscated_relations=(2,), max_constraints=5).key()
    assert TaskOptions().key() != TaskOptions(types=("obfuscated",)).key()
    assert not TaskOptions().deep and TaskOptions(types=("chain", "obfuscated")).deep


def test_hard_spec_loads_with_deep_options():
    from searchgym.envs.config import load_spec

    config = load_spec("SearchQA-Hard-v0")
    options = config.task_options()
    assert options.types == ("obfuscated",) and options.min_tier == 4 and options.depth_top_k == 5
    assert config.top_k == 5 and config.max_turns >= 40 and config.allow_access
    classic = load_spec("SearchQA-v0").task_options()
    assert classic.types == TaskOptions().types and not classic.deep


OPEN_OPTIONS = TaskOptions(per_type=8, types=("list", "obfuscated", "unanswerable"), obfuscated_relations=(2, 3),
                           unanswerable_share=0.2, depth_top_k=5)


@pytest.fixture(scope="module")
def open_bundle():
    from searchgym.bundle import build_bundle

    return build_bundle("default", 400, 3, task_options=OPEN_OPTIONS)


def test_list_answers_are_the_worlds_complete_sets(open_bundle):
    world, corpus = open_bundle.world, open_bundle.corpus
    lists = [t for t in open_bundle.tasks if t.task_type == "list"]
    assert len(lists) >= 4
    for task in lists:
        members = task.meta["answer_entities"]
        assert [aliases[0] for aliases in task.meta["answer_set"]] == [world.name(m) for m in members]
        assert task.answer == "; ".join(world.name(m) for m in members)
        # every listed member's membership fact is evidence the corpus states
        stated = {step.fact_id for step in task.chain}
        for member in members:
            assert any(member in (step.subject, step.object) for step in task.chain)
        assert all(step.fact_id in corpus[d].facts for step, unit in zip(task.chain, task.evidence) for d in unit)
        assert stated


def test_false_premises_fit_no_entity_and_are_a_declared_share(open_bundle):
    from searchgym.tasks.deep import ObfuscatedMaker
    from searchgym.tasks.open_forms import FalsePremiseMaker
    from searchgym.tasks.subgraph import total_solutions

    world = open_bundle.world
    maker = FalsePremiseMaker(world, np.random.default_rng(5), ObfuscatedMaker(world, np.random.default_rng(5)))
    drawn = [d for d in (maker.tree(2) for _ in range(30)) if d is not None]
    assert len(drawn) >= 3
    for root, false in drawn:
        assert total_solutions(world, root) == 0
        node = next(n for n, _ in root.walk() if false in n.descriptors)
        assert not false.admits(world.entity(node.entity))  # the witness fails even the loose reading
    tasks = list(open_bundle.tasks)
    false_premise = [t for t in tasks if t.task_type == "unanswerable"]
    assert all(t.answer == "unanswerable" for t in false_premise)
    assert 0.15 <= len(false_premise) / len(tasks) <= 0.25
    assert all(t.question.endswith('answer "unanswerable".') for t in tasks)  # the note is on every question
