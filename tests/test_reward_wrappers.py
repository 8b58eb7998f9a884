"""Reward wrappers on scripted episodes of a real small SearchQA env, with known values."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import searchgym  # noqa: F401  (registers the envs)
from searchgym.wrappers import (
    AnswerReward,
    CitationReward,
    EvidenceReward,
    InformationGainReward,
    RetrievalCostReward,
    SearchR1FormatReward,
    SSRLReward,
    WeightedReward,
    compose_rewards,
    parse_citations,
    score_answer,
)
from searchgym.wrappers.reward_outcome import candidate_count
from searchgym.wrappers.reward_process import chain_frontier
from episodes import SMALL


def make(**overrides):
    return gym.make("SearchQA-v0", **{**SMALL, **overrides})


def task_key(env, task_type="chain", hops=2):
    for task in env.unwrapped.tasks:
        if task.task_type == task_type and task.hops == hops:
            return task.task_key
    raise AssertionError(f"no {task_type}/{hops} task")


def start(env, task_type="chain", hops=2):
    env.reset(seed=0, options={"task_key": task_key(env, task_type, hops)})
    return env.unwrapped.task


def gold_docs(task):
    """One passage per gold fact, in chain order."""
    return [passages[0] for passages in task.evidence]


def answer(text, think=True):
    return ("<think>done</think>" if think else "") + f"<answer>{text}</answer>"


def access(doc_id, think=True):
    return ("<think>read</think>" if think else "") + f"<access>{doc_id}</access>"


def search(query, think=True):
    return ("<think>look</think>" if think else "") + f"<search>{query}</search>"


def found(env, doc_id, think=True, start=0):
    """A search for the passage's own words: BM25 ranks that passage first. Evidence only pays
    when a search returned it (a bare ``<access>`` of a gold id is a guessed id)."""
    words = env.unwrapped.corpus[doc_id].text.split()[start : start + 30]
    return search(" ".join(words), think)


def assert_consistent(reward, info):
    parts, weights = info["reward_parts"], info["reward_weights"]
    assert set(parts) == set(weights)
    assert reward == pytest.approx(sum(weights[k] * parts[k] for k in parts))


def run(env, actions):
    """Step through ``actions``; return the list of (reward, info)."""
    out = []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        assert_consistent(reward, info)
        out.append((reward, info))
        if terminated or truncated:
            break
    return out


# --------------------------------------------------------------------------- answer reward


def test_candidate_count():
    assert candidate_count("Paris") == 1
    assert candidate_count("A, B, C, D") == 4
    assert candidate_count("Paris or London") == 2
    assert candidate_count("1,234") == 1
    assert candidate_count("") == 0


def _regex_candidate_count(text: str) -> int:
    """candidate_count by the separator regex alone (what its ASCII fast path must equal)."""
    from searchgym.answer_guard import _LIST_SEPARATORS, _THOUSANDS

    cleaned = _THOUSANDS.sub("", text)
    return sum(1 for piece in _LIST_SEPARATORS.split(cleaned) if piece and piece.strip(" .!?\"'"))


_GUARD_PIECES = st.sampled_from(
    ["Paris", "or", "OR", "and", "nor", "vs", "vs.", "versus", "orange", "Andes", " ", ",", ", ", " - ", "-", "~",
     "*", ":", "/", "+", "&", "|", ";", "\t", "\n", "1,234", "12", ".", "!", "?", "'", '"', "vſ", "verſus", "ſ",
     "\u2022", "\u00b7", "\u2013", "é", "\u212a"]
)


@given(st.lists(_GUARD_PIECES, max_size=8).map("".join) | st.text(max_size=16))
@settings(max_examples=600, deadline=None)
def test_candidate_count_fast_path_equals_the_separator_regex(text):
    # ASCII answers without a separator character or word skip the regex; any other text
    # (non-ASCII included: IGNORECASE folds "ſ" onto "s") takes it. Both must count the same.
    assert candidate_count(text) == _regex_candidate_count(text)


def test_the_gold_side_of_the_guard_is_kept_per_alias_tuple_and_scores_the_same():
    from searchgym.answer_guard import CandidateIndex, _gold_guard

    gold = ("Vihivik", "Vihivik and Teifialvik")
    first, again = _gold_guard(list(gold)), _gold_guard(gold)
    assert first is again  # one entry for a list and a tuple of the same aliases
    assert first[0] == 2 and first[1].names_one_candidate("Vihivik")
    fresh = CandidateIndex.from_texts(list(gold))
    for prediction in ["Vihivik Teifialvik", "Teifialvik", "Vihivik", "Nowhere", "Vihivik, Teifialvik, Oslo"]:
        assert first[1].names_one_candidate(prediction) == fresh.names_one_candidate(prediction)
    # an alias list that cannot be a cache key is scored without the cache, as before
    odd = [["not", "a", "string"], "Vihivik"]
    assert score_answer("Vihivik Teifialvik", odd, "substring_em") == (1.0, None)
    assert score_answer("Vihivik; Teifialvik; Oslo; Rome", odd, "substring_em") == (0.0, "multiple_candidates")
    # nor one whose equal aliases print differently: each is counted by its own text
    from fractions import Fraction

    assert score_answer("Oslo, Rome", [0.5], "f1") == (0.0, "multiple_candidates")  # "0.5": one piece
    assert score_answer("Oslo, Rome", [Fraction(1, 2)], "f1") == (0.0, None)  # "1/2": two pieces
    assert score_answer("Oslo, Rome", ["1, 2"], "f1")[1] is None  # a two-piece gold allows two


def test_a_number_token_is_told_from_a_word_by_its_first_character_as_by_the_regex():
    # names_one_candidate tests token[0].isdecimal() before its number regex: every character
    # the regex's \d matches must be decimal and no other, or a number would be taken for a word
    import re
    import sys

    from searchgym.answer_guard import _NUMBER, CandidateIndex

    digit = re.compile(r"\d")
    assert all(bool(digit.match(chr(c))) == chr(c).isdecimal() for c in range(sys.maxunicode + 1))
    index = CandidateIndex.from_texts(["Oslo", "Rome"])
    assert index.names_one_candidate("Oslo 1935") is False  # a number beside a candidate
    assert index.names_one_candidate("1935 \u0661\u0669") is False  # two numbers (Arabic-Indic digits too)
    assert index.names_one_candidate("\u0661\u0669\u0663\u0665") is True and _NUMBER.match("\u0661\u0669")
    assert index.names_one_candidate("Oslo x1") is True  # a word starting with a letter is not a number


def test_score_answer_guards():
    gold = ["Trerus Trading Company"]
    assert score_answer("Trerus Trading Company", gold, "em") == (1.0, None)
    assert score_answer("the Trerus Trading Company!", gold, "substring_em")[0] == 1.0
    assert score_answer("Acme, Trerus Trading Company, Foo", gold, "substring_em") == (0.0, "multiple_candidates")
    assert score_answer("Acme or Trerus Trading Company", gold, "f1") == (0.0, "multiple_candidates")
    assert score_answer("it is Trerus Trading Company today", gold, "substring_em", max_answer_tokens=4) == (
        0.0, "too_long")
    # A gold answer that itself contains "and" is accepted, and may be matched loosely.
    assert score_answer("Noharn and Woru", ["Noharn and Woru"], "em") == (1.0, None)
    assert score_answer("studio Noharn and Woru", ["Noharn and Woru"], "substring_em")[0] == 1.0
    assert score_answer(None, gold) == (0.0, "no_answer")
    with pytest.raises(ValueError):
        score_answer("x", gold, "bleu")


@pytest.mark.parametrize("metric", ["em", "f1", "substring_em"])
def test_answer_reward_correct_and_stuffed(metric):
    env = AnswerReward(make(), metric=metric)
    task = start(env)
    (reward, info), = run(env, [answer(task.answer)])
    assert reward == 1.0 and info["reward_parts"]["answer"] == 1.0
    assert info["reward_parts"]["env"] == 1.0 and info["reward_weights"]["env"] == 0.0

    start(env)
    stuffed = f"Nobody, {task.answer}, Somebody, Anyone"
    (reward, info), = run(env, [answer(stuffed)])
    assert reward == 0.0
    assert info["reward_details"]["answer"]["guard"] == "multiple_candidates"


def test_answer_reward_f1_partial_and_length_guard():
    env = AnswerReward(make(), metric="f1", max_answer_tokens=3)
    task = start(env, "intersection", 1)
    first = task.answer.split()[0]
    (reward, _), = run(env, [answer(first)])
    expected = 2 * (1 / len(task.answer.split())) / (1 + 1 / len(task.answer.split()))
    assert reward == pytest.approx(expected)
    start(env, "intersection", 1)
    (reward, info), = run(env, [answer(f"maybe it is {task.answer}")])
    assert reward == 0.0 and info["reward_details"]["answer"]["guard"] == "too_long"


def test_answer_reward_zero_on_truncation_and_between_steps():
    env = AnswerReward(make(max_turns=2))
    task = start(env)
    steps = run(env, [search("a"), search("b")])
    assert [r for r, _ in steps] == [0.0, 0.0]
    assert steps[-1][1]["reward_parts"]["answer"] == 0.0
    assert task.answer  # gold exists but was never given


# --------------------------------------------------------------------------- Search-R1 format table


def test_search_r1_table():
    env = SearchR1FormatReward(make(), retrieval_score=0.1)
    task = start(env)
    docs = gold_docs(task)

    assert run(env, [access(docs[0]), answer(task.answer)])[-1][0] == pytest.approx(1.0)  # correct, valid
    start(env)
    assert run(env, [access(docs[0], think=False), answer(task.answer)])[-1][0] == pytest.approx(0.8)
    start(env)
    assert run(env, [answer("Nowhere")])[-1][0] == pytest.approx(0.2)  # wrong, valid
    start(env)
    assert run(env, [answer("Nowhere", think=False)])[-1][0] == pytest.approx(0.1)  # wrong, invalid
    start(env)
    # an invalid action (no tag) breaks the format for the whole episode
    assert run(env, ["just text", answer(task.answer)])[-1][0] == pytest.approx(0.8)
    start(env)
    # wrong answer, valid format, but the gold answer was shown in <information>: + retrieval_score
    steps = run(env, [found(env, docs[-1]), answer("Nowhere")])
    assert steps[-1][0] == pytest.approx(0.3)
    assert steps[-1][1]["reward_details"]["search_r1"]["retrieval_correct"] is True


def test_search_r1_no_answer_is_zero():
    env = SearchR1FormatReward(make(max_turns=2))
    start(env)
    steps = run(env, [search("x"), search("y")])
    assert steps[-1][1]["reward_parts"]["search_r1"] == 0.0 and steps[-1][0] == 0.0


# --------------------------------------------------------------------------- SSRL


def test_ssrl_reward():
    env = SSRLReward(make())
    task = start(env)
    # think+search, think+answer: thinks=2, searches=1 -> format 1 -> 0.9 + 0.1
    steps = run(env, [search("anything"), answer(task.answer)])
    assert steps[-1][0] == pytest.approx(1.0)
    start(env)
    # a single think and no search: min(1/2, 1) * 1 = 0.5 -> 0.9 + 0.05
    assert run(env, [answer(task.answer)])[-1][0] == pytest.approx(0.95)
    start(env)
    assert run(env, [answer("Nowhere")])[-1][0] == pytest.approx(0.05)
    start(env)
    assert run(env, [answer(task.answer, think=False)])[-1][0] == pytest.approx(0.9)  # format invalid


# --------------------------------------------------------------------------- evidence


def test_evidence_reward_new_facts_hops_and_repeats():
    env = EvidenceReward(make(top_k=1), per_fact=0.1, per_hop=0.05, repeat_query_penalty=0.2)
    task = start(env, "chain", 3)
    docs = gold_docs(task)
    steps, frontiers = [], []
    for action in [found(env, docs[1]), found(env, docs[1], start=1), found(env, docs[0])]:
        steps += run(env, [action])
        assert steps[-1][1]["doc_ids"][0] in (docs[1], docs[0])
        frontiers.append(chain_frontier(task, env.unwrapped.state.searched_facts))
    parts = [info["reward_parts"]["evidence"] for _, info in steps]
    new = [info["new_evidence"] for _, info in steps]
    # a later hop first: fact bonus but no chain advance; repeat: nothing; hop 1: facts + advance
    assert frontiers[0] == 0 and new[0] >= 1
    assert parts[0] == pytest.approx(0.1 * new[0])
    assert parts[1] == pytest.approx(0.0)
    assert frontiers[2] >= 2
    assert parts[2] == pytest.approx(0.1 * new[2] + 0.05 * frontiers[2])
    # repeated query (normalised: case, punctuation, word order)
    steps = run(env, [search("Foo bar"), search("bar, FOO!"), search("foo bar baz")])
    penalties = [info["reward_details"]["evidence"]["repeated_queries"] for _, info in steps]
    assert penalties == [0, 1, 0]
    assert steps[1][1]["reward_parts"]["evidence"] == pytest.approx(0.1 * steps[1][1]["new_evidence"] - 0.2)


def test_evidence_added_to_outcome():
    env = EvidenceReward(AnswerReward(make()), per_fact=0.25, repeat_query_penalty=0.0)
    task = start(env, "chain", 1)
    steps = run(env, [found(env, gold_docs(task)[0]), answer(task.answer)])
    assert steps[0][0] == pytest.approx(0.25)
    assert steps[1][0] == pytest.approx(1.0)
    assert steps[1][1]["reward_parts"]["answer"] == 1.0


# --------------------------------------------------------------------------- information gain


def test_information_gain_proxy_telescopes():
    env = InformationGainReward(make(), scale=2.0)
    task = start(env, "chain", 2)
    docs = gold_docs(task)
    steps = run(env, [found(env, docs[0]), found(env, docs[1]), answer(task.answer)])
    gains = [info["reward_parts"]["info_gain"] for _, info in steps]
    assert gains[-1] == 0.0  # the answer turn is left to the outcome reward
    final = steps[1][1]["reward_details"]["info_gain"]["p_after"]
    initial = steps[0][1]["reward_details"]["info_gain"]["p_before"]
    assert sum(gains) == pytest.approx(2.0 * (final - initial))
    assert final == pytest.approx(1.0)  # all evidence found and the answer string seen


def test_information_gain_custom_scorer_sees_observations_only():
    calls = []

    def scorer(question, text, answers):
        calls.append(text)
        return 1.0 if any(a.lower() in text.lower() for a in answers) else 0.0

    env = InformationGainReward(make(), scorer=scorer)
    task = start(env, "chain", 2)
    # writing the answer into a query must not raise the score
    steps = run(env, [search(f"is it {task.answer}?")])
    assert all(f"is it {task.answer}" not in text for text in calls)
    gain = steps[0][1]["reward_parts"]["info_gain"]
    assert gain == (1.0 if task.answer.lower() in calls[-1].lower() else 0.0)
    with pytest.raises(ValueError):
        InformationGainReward(make(), scorer=42)


@pytest.mark.slow
def test_transformers_answer_scorer():
    pytest.importorskip("torch")
    from searchgym.llm.base import LLMError
    from searchgym.wrappers import TransformersAnswerScorer

    scorer = TransformersAnswerScorer()
    try:
        with_answer = scorer("Who founded Trerus Trading Company?",
                             "Movrein Reistae founded Trerus Trading Company.", ["Movrein Reistae"])
    except LLMError as error:  # the bundled model is not installed here
        pytest.skip(str(error))
    without = scorer("Who founded Trerus Trading Company?", "", ["Movrein Reistae"])
    assert 0.0 <= without < with_answer <= 1.0


# --------------------------------------------------------------------------- citations


def test_parse_citations_syntax():
    assert parse_citations("Paris [doc: a-p0, b-p1]") == ("Paris", ["a-p0", "b-p1"])
    assert parse_citations("Paris [a-p0][b-p1; a-p0]") == ("Paris", ["a-p0", "b-p1"])
    assert parse_citations("born in [1990]") == ("born in [1990]", [])
    assert parse_citations("the [big apple] city") == ("the [big apple] city", [])
    assert parse_citations("X [Sources: a b]") == ("X", ["a", "b"])


def test_citation_reward_gold_chain_and_em_kept():
    env = CitationReward(AnswerReward(make()), evidence_weight=0.5, chain_bonus=0.5, fake_penalty=0.5,
                         irrelevant_penalty=0.1)
    task = start(env, "chain", 2)
    docs = gold_docs(task)
    steps = run(env, [found(env, docs[0]), found(env, docs[1]),
                      answer(f"{task.answer} [doc: {docs[0]}, {docs[1]}]")])
    reward, info = steps[-1]
    assert info["em"] == 1.0 and info["prediction"] == task.answer  # citations stripped before EM
    assert info["reward_parts"]["citation"] == pytest.approx(0.5 + 0.5)
    assert reward == pytest.approx(2.0)


def test_citation_reward_fake_and_partial():
    # min_precision=0: the penalties are measured here, not the precision gate
    env = CitationReward(make(top_k=1), evidence_weight=0.5, chain_bonus=0.5, fake_penalty=0.5,
                         irrelevant_penalty=0.0, min_precision=0.0)
    task = start(env, "chain", 2)
    seen = gold_docs(task)[0]
    unseen = next(d for passages in task.evidence for d in passages if d != seen)
    # cites a gold passage it never retrieved, plus an invented id
    steps = run(env, [found(env, seen), answer(f"{task.answer} [{seen}, {unseen}, made-up-p9]")])
    details = steps[-1][1]["reward_details"]["citation"]
    assert details["fake"] == [unseen, "made-up-p9"]
    recall = sum(seen in passages for passages in task.evidence) / len(task.evidence)
    bonus = 0.5 if recall == 1.0 else 0.0
    assert steps[-1][1]["reward_parts"]["citation"] == pytest.approx(0.5 * recall + bonus - 2 * 0.5)
    assert steps[-1][1]["em"] == 1.0


def test_citation_reward_tool_call_and_require_correct():
    env = CitationReward(make(), require_correct=True, missing_penalty=0.2)
    task = start(env, "chain", 1)
    doc = gold_docs(task)[0]
    run(env, [found(env, doc)])
    call = {"name": "answer", "arguments": {"answer": f"Nowhere [doc: {doc}]"}}
    (_, info), = run(env, [call])
    assert info["prediction"] == "Nowhere"
    assert info["reward_parts"]["citation"] == 0.0  # positive part gated on correctness
    start(env, "chain", 1)
    (_, info), = run(env, [answer(task.answer)])
    assert info["reward_parts"]["citation"] == pytest.approx(-0.2)


# --------------------------------------------------------------------------- retrieval cost


def test_retrieval_cost():
    env = RetrievalCostReward(AnswerReward(make()), cost_per_search=0.05, knowledge_boundary_bonus=0.3)
    task = start(env)
    steps = run(env, [search("a"), search("b"), answer(task.answer)])
    assert [r for r, _ in steps] == pytest.approx([-0.05, -0.05, 1.0])
    start(env)
    assert run(env, [answer(task.answer)])[-1][0] == pytest.approx(1.3)  # knew it: bonus
    start(env)
    # wrong without any retrieval: -unsearched_wrong_penalty (0.2 by default, the cost cap)
    assert run(env, [answer("Nowhere")])[-1][0] == pytest.approx(-0.2)


# --------------------------------------------------------------------------- composition and spec


def test_compose_rewards_weighted_sum():
    env = compose_rewards(make(), {"answer": 1.0, "format": 0.2, "evidence": 0.5, "retrieval_cost": 1.0},
                          answer={"metric": "f1"})
    task = start(env, "chain", 2)
    docs = gold_docs(task)
    steps = run(env, [found(env, docs[0]), search("x"), answer(task.answer)])
    reward, info = steps[-1]
    assert info["reward_parts"]["answer"] == 1.0 and info["reward_parts"]["format"] == 1.0
    assert reward == pytest.approx(1.0 + 0.2)
    assert info["reward_weights"]["env"] == 0.0
    assert steps[1][0] == pytest.approx(-0.05 + 0.5 * 0.1 * steps[1][1]["new_evidence"])


def test_weighted_reward_classes_env_weight_and_names():
    env = WeightedReward(make(), components=[(AnswerReward, {"metric": "em"}, 2.0),
                                             ("answer", {"name": "answer_f1", "metric": "f1"}, 1.0)],
                         env_weight=0.5)
    task = start(env)
    reward, info = run(env, [answer(task.answer)])[-1]
    assert set(info["reward_parts"]) == {"env", "answer", "answer_f1"}
    assert reward == pytest.approx(2.0 + 1.0 + 0.5)
    with pytest.raises(ValueError):
        WeightedReward(make(), components=[("nope", {}, 1.0)])


def test_stacked_duplicates_keep_all_parts():
    env = AnswerReward(AnswerReward(make(), metric="f1"), metric="em", mode="add", weight=0.5)
    task = start(env)
    reward, info = run(env, [answer(task.answer)])[-1]
    assert set(info["reward_parts"]) == {"env", "answer", "answer#2"}
    assert reward == pytest.approx(1.5)


def scripted_rewards(env):
    env.reset(seed=0, options={"task_key": task_key(env.unwrapped, "chain", 2)})
    task = env.unwrapped.task
    docs = gold_docs(task)
    return [r for r, _ in run(env, [access(docs[0]), search("foo"), search("FOO"),
                                    answer(f"{task.answer} [doc: {docs[0]}]")])]


def test_spec_round_trip_rebuilds_stack():
    env = make()
    env = CitationReward(EvidenceReward(SearchR1FormatReward(env, retrieval_score=0.1), per_fact=0.3))
    env = InformationGainReward(env, scorer="answer_in_text")
    env = compose_rewards(env, {"ssrl": 1.0, "retrieval_cost": 0.5}, env_weight=1.0)
    names = [w.name for w in env.spec.additional_wrappers]
    assert names == ["SearchR1FormatReward", "EvidenceReward", "CitationReward", "InformationGainReward",
                     "WeightedReward"]
    rebuilt = gym.make(env.spec)
    assert [w.name for w in rebuilt.spec.additional_wrappers] == names
    assert rebuilt.spec.additional_wrappers == env.spec.additional_wrappers
    first, second = scripted_rewards(env), scripted_rewards(rebuilt)
    assert first == pytest.approx(second)
    assert all(math.isfinite(r) for r in first)


def test_invalid_mode_rejected():
    with pytest.raises(ValueError):
        AnswerReward(make(), mode="multiply")
