"""A reward-hacking policy against every reward term: no trick may beat an honest wrong answer.

The honest wrong episode searches once (a topic entity of the question) and answers one wrong
candidate. Each trick (stuffing answers, echoing text into observations, citing everything,
repeating queries, guessing doc ids, abstaining) is played on the same tasks under every reward
term, alone and composed; its episode return must never exceed the honest wrong one's.
Issue 15, items 1-5, each also has its own regression test below.
"""

from __future__ import annotations

import pytest
from adversary import access, answer, make, play, search, tasks_of, topic_names, wrong_answer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgym.metrics import exact_match
from searchgym.wrappers import (
    AnswerReward,
    CitationReward,
    EvidenceReward,
    InformationGainReward,
    RetrievalCostReward,
    SearchR1FormatReward,
    SSRLReward,
    compose_rewards,
)

SEPARATORS = [" ", " - ", " + ", "\t", " / ", ", ", " or ", "  ", " \u2014 ", "\u00a0", " & ", "; ", " vs "]


@pytest.fixture(scope="module")
def env():
    return make()


@pytest.fixture(scope="module")
def sample_tasks(env):
    """A few tasks of every type (comparisons twice: hedging pays most there)."""
    chosen = []
    for task_type in ("comparison", "chain", "bridge_comparison", "intersection", "counting"):
        chosen += tasks_of(env, task_type)[: 3 if task_type == "comparison" else 1]
    assert len(chosen) >= 5
    return chosen


def first_query(env, task) -> str:
    names = topic_names(env, task)
    return names[0] if names else task.question


def shown_by(env, query: str) -> list[str]:
    """The ids the env's search will show for ``query`` (the engine is deterministic)."""
    hits = env.unwrapped.engine.search([query], env.unwrapped.config.top_k)[0]
    return [hit.doc_id for hit in hits]


def all_names(env) -> list[str]:
    return [entity.name for entity in env.unwrapped.world.entities.values()]


# --------------------------------------------------------------------------- episodes


def honest_wrong(env, task) -> list[str]:
    return [search(first_query(env, task)), answer(wrong_answer(env, task))]


def stuffed_names(env, task) -> str:
    names = [task.answer, wrong_answer(env, task), *topic_names(env, task), *all_names(env)[:40]]
    return " ".join(dict.fromkeys(names))


TRICKS = {
    "stuff_after_search": lambda env, task: [search(first_query(env, task)), answer(stuffed_names(env, task))],
    "stuff_without_search": lambda env, task: [answer(stuffed_names(env, task))],
    "stuff_option_pair": lambda env, task: [search(first_query(env, task)),
                                            answer(f"{wrong_answer(env, task)} {task.answer}")],
    "echo_into_access_error": lambda env, task: [access(f"{task.answer} {wrong_answer(env, task)}"),
                                                 answer(wrong_answer(env, task))],
    "cite_everything": lambda env, task: [
        search(first_query(env, task)),
        answer(f"{wrong_answer(env, task)} [doc: {', '.join(shown_by(env, first_query(env, task)))}]")],
    "cite_gold_with_wrong_answer": lambda env, task: [
        search(first_query(env, task)),
        answer(f"{wrong_answer(env, task)} [doc: {', '.join(task.gold_passages)}]")],
    "repeat_queries": lambda env, task: [search(first_query(env, task))] * 5 + [answer(wrong_answer(env, task))],
    # the luckiest possible guesser: its "guesses" are the gold passages themselves
    "guess_gold_ids": lambda env, task: [access(doc_id) for doc_id in task.gold_passages][:5]
    + [answer(wrong_answer(env, task))],
    "abstain_with_answer": lambda env, task: [answer("I do not know")],
    "abstain_silently": lambda env, task: [],
}

TERMS = {
    "answer_em": lambda: AnswerReward(make(), metric="em"),
    "answer_f1": lambda: AnswerReward(make(), metric="f1"),
    "answer_substring_em": lambda: AnswerReward(make(), metric="substring_em"),
    "env_reward_f1": lambda: make(reward="f1"),
    "env_reward_substring_em": lambda: make(reward="substring_em"),
    "search_r1_format": lambda: SearchR1FormatReward(make(), retrieval_score=0.1),
    "ssrl": lambda: SSRLReward(make()),
    "evidence": lambda: EvidenceReward(make(), per_fact=0.1, per_hop=0.05),
    "info_gain_proxy": lambda: InformationGainReward(make()),
    "info_gain_answer_in_text": lambda: InformationGainReward(make(), scorer="answer_in_text"),
    "citation": lambda: CitationReward(make()),
    "retrieval_cost": lambda: RetrievalCostReward(make()),
    "composed": lambda: compose_rewards(
        make(), {"answer": 1.0, "format": 0.2, "evidence": 0.5, "info_gain": 0.5, "citation": 0.5,
                 "retrieval_cost": 1.0}, answer={"metric": "f1"}),
}


@pytest.mark.parametrize("term", sorted(TERMS))
def test_no_trick_beats_an_honest_wrong_answer(term, sample_tasks):
    env = TERMS[term]()
    failures = []
    for task in sample_tasks:
        honest, _ = play(env, task, honest_wrong(env, task))
        for name, trick in TRICKS.items():
            total, infos = play(env, task, trick(env, task))
            if total > honest + 1e-9:
                failures.append(f"{name} on {task.task_type}: {total:.3f} > honest wrong {honest:.3f}")
    assert failures == []


# --------------------------------------------------------------------------- item 1: stuffing


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize("metric", ["f1", "substring_em"])
def test_option_pairs_score_no_more_than_the_wrong_option(env, metric, separator):
    """'A B', 'A - B', 'A + B', tab-joined ... on a comparison: the guard zeroes them all, in
    the env's own reward and in AnswerReward."""
    wrapped, plain = AnswerReward(make(), metric=metric), make(reward=metric)
    for task in tasks_of(env, "comparison")[:5]:
        wrong = wrong_answer(env, task)
        for stuffed in (f"{wrong}{separator}{task.answer}", f"{task.answer}{separator}{wrong}"):
            for stack in (wrapped, plain):
                honest, _ = play(stack, task, [answer(wrong)])
                total, _ = play(stack, task, [answer(stuffed)])
                assert total <= honest, (stuffed, total, honest)


def test_every_name_of_the_world_joined_scores_zero(env):
    task = tasks_of(env, "chain")[0]
    names = " ".join([task.answer, *all_names(env)])[: env.unwrapped.config.max_action_chars - 200]
    assert task.answer in names and len(names) > 4_000  # every name of the 300-entity world
    for metric in ("f1", "substring_em"):
        assert play(AnswerReward(make(), metric=metric), task, [answer(names)])[0] == 0.0
        assert play(make(reward=metric), task, [answer(names)])[0] == 0.0


def test_honest_answers_keep_their_credit(env):
    """The guard must not punish the honest: the gold answer in a sentence, or with filler."""
    for task in tasks_of(env, "chain")[:5]:
        for text in (task.answer, f"the {task.answer}", f"It is {task.answer}."):
            assert play(make(reward="substring_em"), task, [answer(text)])[0] == 1.0, text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_stuffing_never_beats_its_best_single_candidate(env, data):
    """Any mix of candidate names (gold included), joined by any separators, scores at most what
    the best of those names alone scores, under F1 and substring EM."""
    task = data.draw(st.sampled_from(tasks_of(env)))
    pool = [name for name in all_names(env) if not exact_match(name, task.answers)]
    others = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    names = data.draw(st.permutations([task.answer, *others]))
    pieces = [names[0]]
    for name in names[1:]:
        pieces += [data.draw(st.sampled_from(SEPARATORS)), name]
    stuffed = "".join(pieces)
    from searchgym.answer_guard import score_answer

    candidates = env.unwrapped.answer_candidates
    for metric in ("f1", "substring_em"):
        single = [score_answer(name, task.answers, metric, candidates=candidates)[0]
                  for name in names if not exact_match(name, task.answers)]
        score = score_answer(stuffed, task.answers, metric, candidates=candidates)[0]
        if not exact_match(stuffed, task.answers):
            assert score <= max(single, default=0.0), (stuffed, metric, score)


def test_world_free_guard_uses_the_question(env):
    """Without a world (a trainer's compute_score), the question's names are the candidates."""
    from searchgym.answer_guard import CandidateIndex, score_answer
    from searchgym.integrations.verl import compute_score

    task = tasks_of(env, "comparison")[0]
    wrong = wrong_answer(env, task)
    index = CandidateIndex.from_texts(task.answers, task.question)
    assert score_answer(f"{wrong} {task.answer}", task.answers, "substring_em", candidates=index)[0] == 0.0
    truth = {"target": list(task.answers)}
    extra = {"question": task.question}
    stuffed = f"<answer>{wrong} {task.answer}</answer>"
    assert compute_score("x", stuffed, truth, extra, metric="substring_em") == 0.0
    assert compute_score("x", stuffed, truth, extra, metric="f1") == 0.0
    assert compute_score("x", f"<answer>{task.answer}</answer>", truth, extra, metric="f1") == 1.0


# --------------------------------------------------------------------------- item 2: echoed text


@pytest.mark.parametrize("scorer", [None, "answer_in_text"])
def test_text_echoed_in_an_access_error_is_not_evidence(env, scorer):
    """'<access> A B </access>' with a bogus id puts the agent's words in <information>; they
    must earn no information gain and no Search-R1 retrieval score."""
    task = tasks_of(env, "comparison")[0]
    wrong = wrong_answer(env, task)
    bogus = f"{task.answer} {wrong}"
    info_gain = InformationGainReward(make(), scorer=scorer)
    total, infos = play(info_gain, task, [access(bogus), answer(wrong)])
    assert infos[0]["error"] and task.answer in info_gain.unwrapped.state.transcript[2]["content"]
    assert total == 0.0
    search_r1 = SearchR1FormatReward(make(), retrieval_score=0.5)
    total, infos = play(search_r1, task, [access(bogus), answer(wrong)])
    assert infos[-1]["reward_details"]["search_r1"]["retrieval_correct"] is False
    assert total == pytest.approx(0.2)


def test_the_agents_query_echoed_as_no_results_is_not_evidence(env):
    task = tasks_of(env, "chain")[0]
    query = f"{task.answer} qqxzv"
    env_ = InformationGainReward(make(), scorer="answer_in_text")
    play(env_, task, [search(query)])
    state = env_.unwrapped.state
    assert all(query not in text for text in state.evidence_text)


def test_transcript_context_is_refused():
    with pytest.raises(ValueError, match="own words"):
        InformationGainReward(make(), scorer="answer_in_text", context="transcript")


# --------------------------------------------------------------------------- item 3: citations


def test_citations_need_a_correct_answer_by_default(env):
    task = tasks_of(env, "chain")[0]
    stack = CitationReward(AnswerReward(make()))
    query = first_query(env, task)
    gold_shown = [doc_id for doc_id in shown_by(env, query) if any(doc_id in p for p in task.evidence)]
    cites = f" [doc: {', '.join(gold_shown)}]" if gold_shown else ""
    wrong_cited, _ = play(stack, task, [search(query), answer(wrong_answer(env, task) + cites)])
    right_bare, _ = play(stack, task, [search(query), answer(task.answer)])
    assert wrong_cited < right_bare
    assert wrong_cited <= 0.0


def test_citing_every_retrieved_passage_nets_nothing(env):
    stack = CitationReward(make())
    for task in tasks_of(env, "chain")[:5]:
        query = first_query(env, task)
        shown = shown_by(env, query)
        gold = {doc_id for passages in task.evidence for doc_id in passages}
        if not set(shown) - gold:
            continue  # every result is evidence: citing them all is honest
        cited, infos = play(stack, task, [search(query), answer(f"{task.answer} [doc: {', '.join(shown)}]")])
        bare, _ = play(stack, task, [search(query), answer(task.answer)])
        assert infos[-1]["reward_parts"]["citation"] <= 0.0 and cited <= bare


# --------------------------------------------------------------------------- item 4: guessed ids


def test_evidence_reached_by_guessing_ids_pays_nothing_and_access_costs(env):
    """The luckiest guesser opens the gold passages without any search: it sees them (evidence
    recall, the metric, counts them) but no reward term pays for them, and each access costs."""
    for task in tasks_of(env, "chain")[:3]:
        guesses = [access(doc_id) for doc_id in task.gold_passages]
        evidence = EvidenceReward(make(), per_fact=0.1, per_hop=0.05)
        total, infos = play(evidence, task, guesses)
        assert total == 0.0
        assert infos[-1]["evidence_recall"] > 0 and infos[0]["unsearched_access"] is True
        assert play(InformationGainReward(make()), task, guesses)[0] == 0.0
        cost = RetrievalCostReward(AnswerReward(make()), cost_per_search=0.05)
        _, infos = play(cost, task, guesses[:1] + [answer(wrong_answer(env, task))])
        assert infos[0]["reward_parts"]["retrieval_cost"] == pytest.approx(-0.05)


def test_opening_a_search_result_is_not_a_guess(env):
    task = tasks_of(env, "chain")[0]
    query = first_query(env, task)
    shown = shown_by(env, query)
    _, infos = play(make(), task, [search(query), access(shown[0])])
    assert infos[1]["unsearched_access"] is False and infos[1]["action_kind"] == "access"


def test_unsearched_episode_cost_cannot_undercut_an_honest_one():
    with pytest.raises(ValueError, match="answering wrong without searching"):
        RetrievalCostReward(make(), unsearched_wrong_penalty=0.1, max_episode_cost=0.5)


# --------------------------------------------------------------------------- item 5: invisible characters


INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202a", "\ufe0f"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_invisible_characters_inside_the_right_answer_are_ignored(env, data):
    task = data.draw(st.sampled_from(tasks_of(env)))
    text = list(task.answer)
    for _ in range(data.draw(st.integers(1, 3))):
        text.insert(data.draw(st.integers(0, len(text))), data.draw(st.sampled_from(INVISIBLE)))
    disguised = "".join(text)
    assert exact_match(disguised, task.answers) == 1.0
    assert play(make(), task, [answer(disguised)])[0] == 1.0


def test_zero_width_space_regression(env):
    task = tasks_of(env, "chain")[0]
    middle = len(task.answer) // 2
    zwsp = task.answer[:middle] + "\u200b" + task.answer[middle:]
    assert play(AnswerReward(make()), task, [answer(zwsp)])[0] == 1.0
