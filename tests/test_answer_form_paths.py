"""The ``answer`` reward term scores every answer form exactly as the env's built-in reward does.

On SearchQA-Open-v0 tasks — a complete list (exact set match or set F1), a partial list, the
declared abstention on a false-premise task and an abstention on an answerable task (which costs
``abstain_penalty``) — the env's own reward under ``reward=metric`` is the reference; the
``AnswerReward`` wrapper, a spec's ``[reward]`` table (``answer = {metric = ...}``) and every path
of ``tests/test_reward_paths.py`` (batched vector env, ToolSession, SkyRL, TRL, verifiers, verl)
must give the same numbers.
"""

from __future__ import annotations

import gymnasium as gym
import pytest
from episodes import SMALL
from test_reward_paths import _calls, _check_adapters, _parts, _run

from searchgym.answer_forms import ABSTENTION, ANSWER_FORMS, AnswerForm, register_answer_form
from searchgym.envs.vector import BatchedSearchQAVectorEnv
from searchgym.integrations.tool_session import ToolSession
from searchgym.wrappers import AnswerReward

pytestmark = pytest.mark.slow

OPEN = {**SMALL, "tasks_per_type": 12, "eval_tasks_per_type": 12}


@pytest.fixture(scope="module")
def env():
    return gym.make("SearchQA-Open-v0", **OPEN)


@pytest.fixture(scope="module")
def scripts(env):
    """(task_key, tool calls, expected reward under em, under f1) for each answer form."""
    tasks = env.unwrapped.tasks
    lists = [t for t in tasks if t.task_type == "list" and len(t.meta["answer_set"]) >= 2]
    false_premise = next(t for t in tasks if t.task_type == "unanswerable")
    gold = [aliases[0] for aliases in lists[0].meta["answer_set"]]
    penalty = env.unwrapped.config.abstain_penalty
    half = 2 * (1 / len(gold)) / (1 + 1 / len(gold))  # one right item of the set: P = 1, R = 1/n
    cases = [
        (lists[0], "; ".join(reversed(gold)), 1.0, 1.0),
        (lists[0], gold[0], 0.0, half),
        (false_premise, ABSTENTION, 1.0, 1.0),
        (lists[1], ABSTENTION, -penalty, -penalty),
    ]
    return [(t.task_key, [("search", {"query": t.question[:80]}), ("answer", {"answer": text})], em, f1)
            for t, text, em, f1 in cases]


@pytest.mark.parametrize("metric", ["em", "f1"])
def test_answer_term_scores_every_form_as_the_env_does(env, scripts, metric):
    builtin = gym.make("SearchQA-Open-v0", reward=metric, **OPEN)
    wrapped = AnswerReward(gym.make("SearchQA-Open-v0", **OPEN), metric=metric)  # env reward: em, replaced
    spec = gym.make("SearchQA-Open-v0", reward_terms={"answer": {"metric": metric}}, **OPEN)
    vector = BatchedSearchQAVectorEnv(len(scripts), "SearchQA-Open-v0",
                                      reward_terms={"answer": {"metric": metric}}, **OPEN)
    vector.reset(options={"task_keys": [key for key, *_ in scripts]})
    per_step = [vector.step([_calls(s)[t] for _, s, *_ in scripts])[1] for t in range(2)]
    for i, (key, script, em, f1) in enumerate(scripts):
        expected = em if metric == "em" else f1
        reference, _ = _run(builtin, key, _calls(script))
        assert reference == [0.0, pytest.approx(expected, abs=1e-12)]
        for other in (wrapped, spec):
            rewards, infos = _run(other, key, _calls(script))
            assert rewards == reference
            assert infos[-1]["reward_parts"]["answer"] == reference[-1]
        assert [float(step[i]) for step in per_step] == reference


def test_every_trainer_path_pays_the_form(scripts):
    table = {"env_weight": 0.0, "answer": {"weight": 1.0, "metric": "f1"}}
    overrides = {**OPEN, "reward_terms": table}
    keys = [key for key, *_ in scripts]
    calls = [_calls(script) for _, script, *_ in scripts]
    session = ToolSession("SearchQA-Open-v0", **overrides)
    totals, metrics = [], []
    for key, script, (_, _, _, f1) in zip(keys, calls, scripts):
        assert session.replay(key, script) == pytest.approx(f1, abs=1e-12)
        totals.append(session.metrics()["reward"])
        metrics.append(session.metrics())
        assert set(_parts(session.last_info)[0]) >= {"answer"}
    _check_adapters(keys, calls, "calls", totals, metrics, env_id="SearchQA-Open-v0", overrides=overrides)


def test_a_registered_form_is_scored_by_the_env_and_the_term(env, scripts):
    """The dispatch is one table: a form registered there reaches the env and the term alike."""
    key, script, *_ = scripts[0]
    kind = "test_first_item"
    register_answer_form(AnswerForm(kind, lambda meta, prediction, episode: {
        "em": float(episode is not None and episode.task.task_key == key), "f1": 0.25, "first": 1.0},
        terms=("first",)))
    changed = []
    try:
        for metric, expected in (("em", 1.0), ("f1", 0.25)):
            builtin = gym.make("SearchQA-Open-v0", reward=metric, **OPEN)
            term = AnswerReward(gym.make("SearchQA-Open-v0", **OPEN), metric=metric)
            for scorer in (builtin, term):
                task = next(t for t in scorer.unwrapped.tasks if t.task_key == key)
                changed.append((task, task.meta["answer_kind"]))
                task.meta["answer_kind"] = kind
                rewards, infos = _run(scorer, key, _calls(script))
                assert rewards[-1] == expected and infos[-1]["first"] == 1.0
    finally:
        for task, original in reversed(changed):
            task.meta["answer_kind"] = original
        del ANSWER_FORMS[kind]
