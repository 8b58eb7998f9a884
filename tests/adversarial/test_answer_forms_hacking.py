"""Tricks against the new answer forms' reward terms never beat an honest wrong answer.

Lists (set F1, exact set match): stuffing every candidate, repeating one right item, padding
the gold with wrong items, restating the question, smuggling the abstention string in.
Abstention: abstaining everywhere, abstaining inside a hedge, answering on a false premise.
Every episode runs through the real env (SearchQA-Open-v0 on a small world) and its reward
wrappers, scored exactly as training would score it.
"""

from __future__ import annotations

import pytest
from adversary import answer, make, play, search, wrong_answer

from searchgym.answer_forms import (
    ABSTENTION,
    abstains,
    max_list_items,
    parse_list,
    score_form,
)
from searchgym.envs.config import SpecError, load_spec
from searchgym.wrappers import AnswerReward, SearchR1FormatReward, SSRLReward

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env():
    return make("SearchQA-Open-v0", tasks_per_type=12, eval_tasks_per_type=12)


def tasks(env, task_type):
    found = [t for t in env.unwrapped.tasks if t.task_type == task_type]
    assert found, task_type
    return found


def honest_wrong(env, task) -> float:
    """Search once, then answer one wrong candidate (a list of one wrong member for lists)."""
    return play(env, task, [search(task.question[:80]), answer(wrong_answer(env, task))])[0]


def reward_of(env, task, text: str) -> float:
    return play(env, task, [search(task.question[:80]), answer(text)])[0]


def members_of_type(env, task) -> list[str]:
    world = env.unwrapped.world
    kind = world.entity(task.meta["answer_entities"][0]).type
    return [world.name(e) for e in world.of_type(kind)]


def test_stuffing_a_list_with_every_candidate_scores_zero(env):
    for task in tasks(env, "list")[:4]:
        everyone = "; ".join(members_of_type(env, task))
        assert reward_of(env, task, everyone) == 0.0 <= honest_wrong(env, task)
        f1_env = AnswerReward(make("SearchQA-Open-v0", tasks_per_type=12, eval_tasks_per_type=12, reward="f1"))
        assert play(f1_env, task, [answer(everyone)])[0] == 0.0


def test_padding_and_repeating_never_beat_the_exact_set(env):
    for task in tasks(env, "list")[:4]:
        gold = [aliases[0] for aliases in task.meta["answer_set"]]
        total, infos = play(env, task, [answer(" ; ".join(reversed(gold)))])  # any order, any spacing
        assert total == 1.0 and infos[-1]["set_exact"] == infos[-1]["set_f1"] == 1.0
        meta = task.meta
        exact = score_form(meta, "; ".join(gold))
        assert exact["set_exact"] == exact["set_f1"] == 1.0
        wrong = [n for n in members_of_type(env, task) if n not in gold]
        padded = score_form(meta, "; ".join(gold + wrong[: len(gold)]))
        assert padded["set_exact"] == 0.0 and padded["set_f1"] < 1.0
        beyond = score_form(meta, "; ".join(gold + wrong[: max_list_items(len(gold))]))
        assert beyond["set_f1"] == 0.0  # past the item cap nothing is scored
        repeated = score_form(meta, "; ".join([gold[0]] * 10))
        once = score_form(meta, gold[0])
        assert repeated["set_f1"] == once["set_f1"] and repeated["set_exact"] == once["set_exact"]
        if len(gold) > 1:
            assert once["set_f1"] < 1.0 and once["set_exact"] == 0.0


def test_restating_the_question_scores_nothing(env):
    for task_type in ("list", "unanswerable", "obfuscated"):
        for task in tasks(env, task_type)[:2]:
            assert reward_of(env, task, task.question) <= honest_wrong(env, task)


def test_abstaining_everywhere_scores_below_honest_wrong_answers(env):
    every = env.unwrapped.tasks
    abstain = [reward_of(env, t, ABSTENTION) for t in every]
    honest = [honest_wrong(env, t) for t in every]
    assert sum(abstain) / len(abstain) < 0 <= sum(honest) / len(honest)
    answerable = [r for r, t in zip(abstain, every) if t.task_type != "unanswerable"]
    assert set(answerable) == {-env.unwrapped.config.abstain_penalty}


@pytest.mark.parametrize("shaped", ["search_r1", "ssrl"])
def test_abstaining_everywhere_does_not_pay_under_format_shaped_rewards(env, shaped):
    """Search-R1's format reward pays 0.2 for a well-formed wrong answer and SSRL's 0.1 x format:
    an abstention on an answerable task must not collect that credit too (it earned
    share x 1 + (1 - share) x 0.2 > 0.2 when EM alone judged it), and a list is correct
    by its exact set in any order, as under the env's reward."""
    wrapper = {"search_r1": SearchR1FormatReward, "ssrl": SSRLReward}[shaped]
    shaped_env = wrapper(make("SearchQA-Open-v0", tasks_per_type=12, eval_tasks_per_type=12))
    every = [t for t in shaped_env.unwrapped.tasks if t.task_type != "profile"]
    abstain = [reward_of(shaped_env, t, ABSTENTION) for t in every]
    honest = [honest_wrong(shaped_env, t) for t in every]
    assert sum(abstain) / len(abstain) < sum(honest) / len(honest)
    penalty = shaped_env.unwrapped.config.abstain_penalty
    answerable = [r for r, t in zip(abstain, every) if t.task_type != "unanswerable"]
    assert max(answerable) < 0 and min(honest) >= 0
    assert max(answerable) == pytest.approx(-penalty * (0.9 if shaped == "ssrl" else 1.0))  # no format credit
    listed = tasks(shaped_env, "list")[0]
    gold = [aliases[0] for aliases in listed.meta["answer_set"]]
    assert reward_of(shaped_env, listed, "; ".join(reversed(gold))) > honest_wrong(shaped_env, listed)


def test_hedged_abstention_is_not_an_abstention(env):
    task = tasks(env, "unanswerable")[0]
    assert reward_of(env, task, ABSTENTION) == 1.0
    for hedge in (f"{ABSTENTION} or {wrong_answer(env, task)}", f"{wrong_answer(env, task)}; {ABSTENTION}",
                  f"{ABSTENTION} {ABSTENTION}", "I don't know"):
        assert not abstains(hedge)
        assert reward_of(env, task, hedge) == 0.0
    # a list answer that smuggles the abstention in is only one more wrong item
    listed = tasks(env, "list")[0]
    gold = [aliases[0] for aliases in listed.meta["answer_set"]]
    assert score_form(listed.meta, "; ".join([*gold, ABSTENTION]))["set_exact"] == 0.0


def test_a_penalty_too_small_for_the_share_is_refused():
    with pytest.raises(SpecError, match="abstain_penalty"):
        load_spec("SearchQA-Open-v0").with_overrides({"abstain_penalty": 0.2})
    assert parse_list("Ann; Bob, and Cy") == ["ann", "bob", "cy"] and parse_list("War and Peace") == ["war and peace"]
    assert parse_list("1,204 people") == ["1204 people"]  # a thousands comma separates nothing
