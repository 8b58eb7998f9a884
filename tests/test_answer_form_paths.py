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


@pytest.mark.parametrize("metric", ["em", "f1"])
def test_verl_rows_without_their_task_score_by_the_declared_form(env, scripts, metric):
    """A verl row whose extra_info lost the task_key is scored on its answer alone: its ground
    truth carries the form, so a list still scores by its set and an abstention on an answerable
    task still costs the penalty (not EM against "A; B" or a free 0); a profile row raises."""
    from searchgym.export import task_records, to_row
    from searchgym.integrations.verl import compute_score, compute_score_with_metrics

    records = {r["task_key"]: r for r in task_records("SearchQA-Open-v0", **OPEN)}
    for key, script, em, f1 in scripts:
        row = to_row(records[key], "verl")
        truth = row["reward_model"]["ground_truth"]
        extra = {k: v for k, v in row["extra_info"].items() if k != "task_key"}
        answer = f"<answer>{script[-1][1]['answer']}</answer>"
        expected = em if metric == "em" else f1
        assert compute_score("SearchQA-Open-v0", answer, truth, extra, metric=metric) == pytest.approx(expected)
        assert compute_score_with_metrics("SearchQA-Open-v0", answer, truth, extra)["em"] == max(em, 0.0)
        if expected < 0:  # Search-R1's format shaping lifts a 0, never a penalty (on both paths)
            for info in (extra, row["extra_info"]):
                shaped = compute_score("SearchQA-Open-v0", answer, truth, info, metric=metric, format_score=0.1)
                assert shaped == pytest.approx(expected)
    # A one-string row keeps Search-R1's ground truth, plus the spec's abstention penalty.
    classic = next(r for r in records.values() if not r["answer_kind"])
    assert to_row(classic, "verl")["reward_model"]["ground_truth"] == {
        "target": classic["answers"], "abstain_penalty": env.unwrapped.config.abstain_penalty}
    profile = next(r for r in records.values() if r["answer_kind"] == "longform")
    row = to_row(profile, "verl")
    with pytest.raises(ValueError, match="task_key"):
        compute_score("SearchQA-Open-v0", "<answer>x [doc: 1]</answer>", row["reward_model"]["ground_truth"], {})
    # With its task_key the same row replays and grades (0 here: nothing was searched).
    assert compute_score("SearchQA-Open-v0", "<answer>x [doc: 1]</answer>", row["reward_model"]["ground_truth"],
                         row["extra_info"]) == 0.0
