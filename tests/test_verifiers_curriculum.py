"""verifiers v1: a taskset served by a searchgym curriculum and fed by finished episodes.

Real verifiers objects throughout: the taskset's own iteration and views (``take``), tasks scored
by ``Task.score`` on real ``vf.Trace`` objects of the oracle's (or a wrong) tool calls, and the
``vf.Episode`` a run hands to ``on_complete``, which is what the curriculum is fed.
"""

from __future__ import annotations

import pytest
from episodes import SMALL, oracle_tool_calls

pytest.importorskip("verifiers.v1", reason="verifiers >= 0.4 (the v1 API) is not installed")

import verifiers.v1 as vf  # noqa: E402
from test_verifiers_toolset import make_trace, score, wrong_actions  # noqa: E402

from searchgym.curricula import StageCurriculum  # noqa: E402
from searchgym.export import task_records  # noqa: E402
from searchgym.integrations.tool_session import make_env  # noqa: E402
from searchgym.integrations.verifiers_curriculum import curriculum_taskset  # noqa: E402


def _episode(task, calls) -> vf.Episode:
    trace = score(task, make_trace(task, [(n, a, "") for n, a in calls]))
    return vf.Episode(task=trace.task, traces=[trace], ok=True)


def test_the_curriculum_serves_tasks_as_they_are_pulled_and_learns_from_episodes():
    hops = {r["task_key"]: r["hops"] for r in task_records("SearchQA-v0", **SMALL)}
    records = {r["task_key"]: r for r in task_records("SearchQA-v0", **SMALL)}
    curriculum = StageCurriculum.for_env(make_env("SearchQA-v0", **SMALL), [{"hops": [1]}, {"hops": [2]}],
                                         promote_at=0.5, window=2, seed=0)
    taskset = curriculum_taskset("SearchQA-v0", curriculum, **SMALL)
    assert not taskset.bounded and taskset.take(3).bounded
    assert [hops[t.key] for t in taskset.take(3)] == [1, 1, 1]

    pulled = iter(taskset)  # one lazy iteration, as a trainer pulls tasks while rollouts finish
    first, second = next(pulled), next(pulled)
    assert taskset.observe(_episode(first, wrong_actions(records[first.key]))) == [None]
    assert curriculum.episodes == 1 and curriculum.success_rate == 0.0
    assert taskset.observe(_episode(second, oracle_tool_calls(second.key))) == ["promote"]
    assert curriculum.stage == 1
    assert {hops[next(pulled).key] for _ in range(4)} == {2}  # pulled after the promotion

    unscored = make_trace(first, [])  # a rollout whose scoring never ran says nothing
    assert taskset.observe(unscored) == [] and curriculum.episodes == 2


def test_a_curriculum_over_other_tasks_is_refused():
    foreign = StageCurriculum([["not-a-task"]])
    taskset = curriculum_taskset("SearchQA-v0", foreign, **SMALL)
    with pytest.raises(ValueError, match="not-a-task"):
        next(iter(taskset))
