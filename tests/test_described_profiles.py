"""Described-subject profiles (``profile_hops``): the subject of a long-form task is named by a
path of single-valued relations from a named anchor ("a short profile of the country of the
birthplace of X"), so the agent must find who it is before it can write about it.

These tests check what the generator claims: the description picks exactly one entity, the
subject's name is not in the question, the path's facts are evidence but never nuggets, no nugget
restates the path, the measured depth is at least the description's length, the oracle solves
every task through real searches, and echoing the question earns nothing.
"""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import pytest

import searchgym  # noqa: F401
from searchgym.agents import HeuristicAgent, OracleAgent, RandomAgent
from searchgym.agents.heuristic_profile import parse_profile_question
from searchgym.bundle import build_bundle
from searchgym.envs.config import SpecError, load_spec
from searchgym.evaluation import run_episode
from searchgym.tasks import TaskOptions
from searchgym.tasks.profiles import PROFILE_NOTE

HOPS = (1, 2, 3)
OPTIONS = TaskOptions(per_type=12, types=("profile",), profile_hops=HOPS, depth_top_k=5)


@pytest.fixture(scope="module")
def bundle():
    return build_bundle("default", 400, 3, task_options=OPTIONS)


@pytest.fixture(scope="module")
def described(bundle):
    tasks = [t for t in bundle.tasks if t.hops >= 2]
    assert Counter(t.hops for t in tasks) == {2: 12, 3: 12}
    return tasks


def _path_facts(bundle, task):
    facts = bundle.world.facts
    nuggets = len(task.meta["nuggets"])
    return [facts[fact_id] for unit in task.chain[nuggets:] for fact_id in [unit.fact_id]]


def _follow(world, anchor: str, steps: list[str]) -> set[str]:
    """Every entity the description's steps reach from the anchor, read off the world's facts
    by aspect word (the profile writer's own wording of each relation)."""
    from searchgym.tasks.profiles import ProfileMaker
    from searchgym.tasks.deep import ObfuscatedMaker
    import numpy as np

    maker = ProfileMaker(world, np.random.default_rng(0), ObfuscatedMaker(world, np.random.default_rng(0)))
    reached = {anchor}
    for step in steps:
        following = set()
        for entity in reached:
            for fact, aspect in maker.aspects(entity):
                if fact.is_relation and aspect == step:
                    following.add(str(fact.object) if fact.subject == entity else fact.subject)
        reached = following
    return reached


def test_profile_hops_strata_are_keyed_and_validated():
    assert OPTIONS.strata() == [("profile", 1), ("profile", 2), ("profile", 3)]
    named = TaskOptions(per_type=12, types=("profile",), depth_top_k=5)
    assert named.key() == TaskOptions(per_type=12, types=("profile",), depth_top_k=5, profile_hops=(1,)).key()
    assert named.key() != OPTIONS.key()
    for bad in [(), (0,), (5,), (2, 2), ("2",)]:
        with pytest.raises(ValueError, match="profile_hops"):
            TaskOptions(types=("profile",), profile_hops=bad)


def test_a_spec_with_bad_profile_hops_gets_a_one_line_error():
    with pytest.raises(SpecError, match="profile_hops") as caught:
        load_spec("SearchQA-Open-v0").with_overrides({"profile_hops": [1, 7]})
    assert "\n" not in str(caught.value)
    config = load_spec("SearchQA-Open-v0")
    assert set(config.profile_hops) >= {1, 2, 3} and config.task_options().profile_hops == config.profile_hops


def test_the_description_names_exactly_one_entity_and_never_the_subject(bundle, described):
    world = bundle.world
    for task in described:
        subject, [anchor] = task.meta["subject"], task.topic_entities
        parsed = parse_profile_question(task.question)
        assert parsed is not None
        steps, named, aspects = parsed
        assert len(steps) == task.hops - 1 and named == world.name(anchor)
        assert _follow(world, anchor, list(reversed(steps))) == {subject}
        assert world.name(subject).lower() not in task.question.lower()
        assert aspects == task.meta["aspects"] and task.question.endswith(PROFILE_NOTE)


def test_path_facts_are_evidence_after_the_nuggets_and_no_nugget_restates_the_path(bundle, described):
    for task in described:
        nuggets = task.meta["nuggets"]
        assert task.meta["answer_units"] == list(range(len(nuggets)))
        assert len(task.evidence) == len(nuggets) + task.hops - 1 and all(task.evidence)
        path = [step.fact_id for step in task.chain[len(nuggets):]]
        assert len(path) == task.hops - 1
        on_path = {task.topic_entities[0]}
        for step in task.chain[len(nuggets):]:
            on_path |= {step.subject, step.object}
        for nugget in nuggets:
            assert nugget["fact_id"] not in path
            assert not (nugget["entity"] and nugget["value"] in on_path - {task.meta["subject"]})


def test_measured_depth_is_at_least_the_description_length(bundle):
    by_hops = Counter()
    for task in bundle.tasks:
        assert task.min_searches >= task.hops
        assert task.meta["depth_exact"] or task.meta.get("depth_lower_bound", 0) >= task.hops
        by_hops[task.hops] += 1
    assert by_hops == {1: 12, 2: 12, 3: 12}


@pytest.fixture(scope="module")
def env():
    environment = gym.make("SearchQA-Open-v0", world_size=400, world_seed=3, task_types=["profile"],
                           unanswerable_share=0.0, profile_hops=list(HOPS), tasks_per_type=12,
                           eval_tasks_per_type=12, reward="f1")
    yield environment
    environment.close()


def test_the_oracle_writes_every_profile_through_real_searches(env):
    """The oracle knows every name (it may search the subject at once): what it shows is that
    each nugget is retrievable and citable through the env's own BM25."""
    oracle = OracleAgent()
    tasks = env.unwrapped.tasks
    assert {t.hops for t in tasks} == set(HOPS)
    for index, task in enumerate(tasks):
        result = run_episode(env, oracle, task.task_key, index)
        assert result.em == 1.0 and result.f1 == 1.0 and result.searches >= 1, task.task_key


def test_echoing_the_question_or_naming_the_anchor_earns_nothing(env):
    for task in [t for t in env.unwrapped.tasks if t.hops >= 2][:6]:
        env.reset(seed=0, options={"task_key": task.task_key})
        _, reward, *_ = env.step(f"<search>{task.question}</search>")
        shown = list(env.unwrapped.state.shown)
        _, answered, terminated, _, info = env.step(f"<answer>{task.question} [doc: {', '.join(shown)}]</answer>")
        assert terminated and reward + answered == 0.0
        assert info["nugget_recall"] == 0.0 and info["citation_support"] == 0.0


def test_the_extractive_heuristic_sits_between_random_and_the_oracle(env):
    tasks = env.unwrapped.tasks
    heuristic = [run_episode(env, HeuristicAgent(), t.task_key, i) for i, t in enumerate(tasks)]
    random = [run_episode(env, RandomAgent(), t.task_key, i) for i, t in enumerate(tasks)]
    named = [r.f1 for r in heuristic if r.hops == 1]
    assert sum(named) / len(named) > 0.3  # it copies cited sentences about a named subject
    assert sum(r.f1 for r in heuristic) > sum(r.f1 for r in random)
    assert all(r.answered for r in heuristic)
    assert all(r.searches >= r.hops for r in heuristic if r.hops >= 2)  # it resolves the description first
