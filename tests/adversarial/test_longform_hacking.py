"""Tricks against the long-form rubric (profile tasks) never pay.

Every episode runs through the real env (SearchQA-Open-v0 on a small world, BM25) with the
graded reward (``reward="f1"``: the rubric score) and the registry's rubric terms composed as a
trainer would compose them. Each trick is compared with two honest answers written from what
the episode's own searches returned: a *partially correct* one (one nugget, stated and cited
from a passage stating it) and an *honest wrong* one (one nugget with a wrong value, cited).
A trick must score below the first and never above the second.
"""

from __future__ import annotations

import pytest
from adversary import answer, make, play, search

from searchgym.claims import claim_reader
from searchgym.search.self_search import SelfSearchEngine
from searchgym.tasks.profiles import profile_sentence
from searchgym.types import Hit
from searchgym.wrappers import compose_rewards

pytestmark = pytest.mark.slow

OPEN = {"tasks_per_type": 12, "eval_tasks_per_type": 12, "reward": "f1"}


@pytest.fixture(scope="module")
def env():
    return make("SearchQA-Open-v0", **OPEN)


@pytest.fixture(scope="module")
def profiles(env):
    """Three profiles of a named subject and three of a described one ("the mentor of X")."""
    found = [t for t in env.unwrapped.tasks if t.task_type == "profile"]
    named, described = [t for t in found if t.hops == 1], [t for t in found if t.hops >= 2]
    assert len(named) >= 3 and len(described) >= 3
    return named[:3] + described[:3]


def subject_name(env, task) -> str:
    return env.unwrapped.world.name(task.meta["subject"])


def episode(env, task, write) -> tuple[float, dict]:
    """Search the subject's name, then answer ``write(env, task)`` (called after the search,
    so it can cite what the search returned); the total reward and the last step's info."""
    env.reset(seed=0, options={"task_key": task.task_key})
    _, total, *_ = env.step(search(subject_name(env, task)))
    action = answer(write(env, task))
    while True:
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            return total, info
        action = "no action"


def shown(env) -> list[str]:
    return list(env.unwrapped.state.shown)


def cite(doc_ids) -> str:
    return f" [doc: {', '.join(doc_ids)}]"


def searched_evidence(env, task, index: int) -> list[str]:
    return [d for d in task.evidence[index] if d in env.unwrapped.state.shown]


def sentence(env, task, nugget, value=None, citation="") -> str:
    told = dict(nugget, value=nugget["value"] if value is None else value)
    body = profile_sentence(env.unwrapped.world, task.meta["subject"], told)
    return f"{body[:-1]}{citation}."


def attribute_spec(env, task, nugget):
    world = env.unwrapped.world
    return world.schema.entity_type(world.entity(task.meta["subject"]).type).attribute(nugget["key"])


def wrong_value(env, task, nugget):
    """A value of the nugget's kind that the world refutes (an unrelated entity, a neighbouring
    number within the attribute's range, another label)."""
    world, subject = env.unwrapped.world, task.meta["subject"]
    reader = claim_reader(world)
    if nugget["entity"]:
        kind = world.entity(nugget["value"]).type
        return next(e for e in world.of_type(kind) if e != subject and not reader.holds(subject, nugget["key"], e))
    spec = attribute_spec(env, task, nugget)
    if spec.kind == "category":
        return next(v for v in spec.values if v != nugget["value"])
    return nugget["value"] + 1 if nugget["value"] + 1 <= spec.max else nugget["value"] - 1


def every_value(env, task, nugget) -> list:
    world = env.unwrapped.world
    if nugget["entity"]:
        kind = world.entity(nugget["value"]).type
        return [e for e in world.of_type(kind) if e != task.meta["subject"]]
    spec = attribute_spec(env, task, nugget)
    if spec.kind == "category":
        return list(spec.values)
    return list(range(max(spec.min, nugget["value"] - 30), min(spec.max, nugget["value"] + 30) + 1))


def first_citable(env, task) -> int:
    """A nugget the subject search returned a stating passage for (the honest answers use it)."""
    return next(i for i in range(len(task.meta["nuggets"])) if searched_evidence(env, task, i))


def honest_partial(env, task) -> str:
    i = first_citable(env, task)
    return sentence(env, task, task.meta["nuggets"][i], citation=cite(searched_evidence(env, task, i)[:1]))


def honest_wrong(env, task) -> str:
    i = first_citable(env, task)
    nugget = task.meta["nuggets"][i]
    return sentence(env, task, nugget, wrong_value(env, task, nugget), cite(searched_evidence(env, task, i)[:1]))


def judge(env, task, trick) -> float:
    """The trick's reward, asserted below the honest partial answer and not above the wrong one."""
    partial, _ = episode(env, task, honest_partial)
    wrong, _ = episode(env, task, honest_wrong)
    tricked, _ = episode(env, task, trick)
    assert 0.0 < partial, "the honest partially correct answer earns credit"
    assert tricked < partial, f"trick scored {tricked} >= honest partial {partial}"
    assert tricked <= wrong, f"trick scored {tricked} > honest wrong {wrong}"
    return tricked


def test_the_oracle_profile_scores_one_and_honest_answers_order(env, profiles):
    for task in profiles:
        def full(e, t):
            return " ".join(sentence(e, t, n, citation=cite(searched_evidence(e, t, i)[:1]))
                            for i, n in enumerate(t.meta["nuggets"]) if searched_evidence(e, t, i))
        reward, info = episode(env, task, full)
        nuggets = len(task.meta["nuggets"])  # a described profile's path units come after them
        covered = sum(1 for i in range(nuggets) if searched_evidence(env, task, i))
        assert reward == pytest.approx(covered / nuggets)
        assert info["contradictions"] == 0.0 and info["citation_support"] == pytest.approx(reward)
        partial, _ = episode(env, task, honest_partial)
        wrong, wrong_info = episode(env, task, honest_wrong)
        assert 0.0 == wrong < partial <= reward and wrong_info["contradictions"] == 1.0


def test_stuffing_every_value_of_every_aspect_earns_nothing(env, profiles):
    for task in profiles:
        def stuffed(e, t):
            cited = cite(shown(e)[:1])
            return " ".join(sentence(e, t, n, v, cited) for n in t.meta["nuggets"] for v in every_value(e, t, n))
        assert judge(env, task, stuffed) == 0.0

        def one_sentence(e, t):  # every entity name of the world after every aspect word
            world = e.unwrapped.world
            aspects = " and ".join(n["aspect"] for n in t.meta["nuggets"])
            names = ", ".join(x.name for x in world.entities.values())
            years = ", ".join(str(y) for y in range(1850, 2025))
            return f"The {aspects} of {subject_name(e, t)} are {names}, {years}{cite(shown(e))}."
        assert judge(env, task, one_sentence) == 0.0


def test_hedging_over_candidate_values_nets_nothing(env, profiles):
    for task in profiles:
        def hedged(e, t):  # the right value and two wrong ones, one cited sentence each
            i = first_citable(e, t)
            nugget, cited = t.meta["nuggets"][i], cite(searched_evidence(e, t, i)[:1])
            wrong = [v for v in every_value(e, t, nugget) if v != nugget["value"]][:2]
            return " ".join(sentence(e, t, nugget, v, cited) for v in [nugget["value"], *wrong])
        assert judge(env, task, hedged) == 0.0

        def one_hedge(e, t):  # "... is A or B or C", cited from the passage that states the right one
            i = first_citable(e, t)
            nugget = t.meta["nuggets"][i]
            wrong = [v for v in every_value(e, t, nugget) if v != nugget["value"]][:2]
            world = e.unwrapped.world
            told = [world.name(v) if nugget["entity"] else str(v) for v in [nugget["value"], *wrong]]
            return (f"The {nugget['aspect']} of {subject_name(e, t)} is {' or '.join(told)}"
                    f"{cite(searched_evidence(e, t, i)[:1])}.")
        assert judge(env, task, one_hedge) == 0.0
        _, info = episode(env, task, one_hedge)
        assert info["nugget_recall"] == info["citation_support"] == 0.0  # a hedge states no value


def test_naming_the_aspects_without_values_or_restating_the_question_earns_nothing(env, profiles):
    for task in profiles:
        def copied(e, t):
            name = subject_name(e, t)
            return " ".join(f"The {n['aspect']} of {name}{cite(shown(e)[:1])}." for n in t.meta["nuggets"])
        assert judge(env, task, copied) == 0.0
        assert judge(env, task, lambda e, t: t.question) == 0.0
        assert judge(env, task, lambda e, t: f"{t.question}{cite(shown(e))}") == 0.0


def test_citing_everything_or_never_retrieved_ids_supports_nothing(env, profiles):
    tried = 0
    for task in profiles:
        episode(env, task, lambda e, t: "")
        i = first_citable(env, task)
        if not [d for d in shown(env) if d not in task.evidence[i]]:
            continue  # every passage the search returned states the nugget: citing them all is honest
        tried += 1
        assert judge(env, task, lambda e, t: sentence(e, t, t.meta["nuggets"][i], citation=cite(shown(e)))) == 0.0

        def unretrieved(e, t):  # real passages that state every nugget, but no search returned them
            lines = []
            for j, nugget in enumerate(t.meta["nuggets"]):
                never = [d for d in t.evidence[j] if d not in e.unwrapped.state.shown] or ["film_999999-p0"]
                lines.append(sentence(e, t, nugget, citation=cite(never[:1])))
            return " ".join(lines)
        assert judge(env, task, unretrieved) == 0.0
    assert tried >= 3


def test_a_correct_fact_cited_from_a_passage_that_does_not_state_it_is_unsupported(env, profiles):
    for task in profiles:
        def miscited(e, t):
            i = first_citable(e, t)
            other = next(d for d in shown(e) if d not in t.evidence[i])
            return sentence(e, t, t.meta["nuggets"][i], citation=cite([other]))
        assert judge(env, task, miscited) == 0.0
        _, info = episode(env, task, miscited)
        assert info["nugget_recall"] > 0.0 and info["citation_support"] == 0.0  # stated, not supported


def test_abstaining_or_an_empty_answer_never_beats_an_honest_wrong_answer(env, profiles):
    for task in profiles:
        assert judge(env, task, lambda e, t: "unanswerable") == -1.0  # abstain_penalty on an answerable task
        assert judge(env, task, lambda e, t: "") == 0.0
        assert judge(env, task, lambda e, t: cite(shown(e))) == 0.0


def test_a_contradiction_cancels_a_supported_nugget(env, profiles):
    for task in profiles:
        def contradicted(e, t):
            i = first_citable(e, t)
            j = next(k for k in range(len(t.evidence)) if k != i)
            other = t.meta["nuggets"][j]
            return f"{honest_partial(e, t)} {sentence(e, t, other, wrong_value(e, t, other))}"
        assert judge(env, task, contradicted) == 0.0


def test_passages_the_agent_wrote_itself_support_nothing(env, profiles):
    """Self-search documents are the agent's own text: citing them supports nothing, even
    when the engine hands back real corpus ids with the agent's words."""
    task = profiles[0]
    world = env.unwrapped.world
    reference = task.answer

    class EchoEngine(SelfSearchEngine):  # agent-written text under the gold passages' ids
        def search(self, queries, k):
            return [[Hit(doc_id=d[0], score=1.0, title="notes", text=reference) for d in task.evidence] for _ in queries]

    for engine in (SelfSearchEngine(lambda queries, k: [[f'"Notes"\n{reference}'] for _ in queries], world=world),
                   EchoEngine(lambda queries, k: [[] for _ in queries])):
        self_env = make("SearchQA-Open-v0", engine=engine, **OPEN)

        def cite_own(e, t):
            return " ".join(sentence(e, t, n, citation=cite(shown(e)[:1])) for n in t.meta["nuggets"])
        reward, info = episode(self_env, task, cite_own)
        assert reward == 0.0 and info["citation_support"] == 0.0 and info["nugget_recall"] == 1.0


def test_rubric_terms_compose_to_the_graded_reward(env, profiles):
    composed = compose_rewards(env, {"citation_support": 1.0, "contradiction": 1.0, "nugget_recall": 0.0})
    for task in profiles:
        for write in (honest_partial, honest_wrong):
            graded, _ = episode(env, task, write)
            total, info = episode(composed, task, write)
            assert total == pytest.approx(graded)
            parts = info["reward_parts"]
            assert {"citation_support", "contradiction", "nugget_recall"} <= set(parts)
            assert total == pytest.approx(sum(info["reward_weights"][k] * v for k, v in parts.items()))
    reader = claim_reader(env.unwrapped.world)
    assert reader.claims("") == []
