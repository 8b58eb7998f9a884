"""SSRL-style self-search: documents from a caller-provided callable, spans, access, specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from searchgym.envs.config import load_spec
from searchgym.envs.search_qa import SearchQAEnv
from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.self_search import (
    SSRL_DOC_PROMPT,
    SelfSearchEngine,
    make_self_search_engine,
    policy_self_search,
    split_title,
    template_self_search,
)
from searchgym.search.factory import make_engine

ENVS = Path(__file__).resolve().parents[1] / "envs"


class Scripted:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int]] = []

    def __call__(self, queries: list[str], k: int) -> list[list[str]]:
        self.calls.append((list(queries), k))
        return [[f"{q} fact {i}" for i in range(k + 2)] for q in queries]


def test_callable_documents_become_hits_with_spans_and_access() -> None:
    source = Scripted()
    engine = SelfSearchEngine(source)
    assert isinstance(engine, SearchEngine) and engine.name == "self"
    results = engine.search(["alpha", "", "beta"], 2)
    assert source.calls == [(["alpha", "beta"], 2)]  # empty queries are not generated
    assert [[h.text for h in hits] for hits in results] == [["alpha fact 0", "alpha fact 1"], [], ["beta fact 0", "beta fact 1"]]
    assert engine.last_spans == [("alpha", ("alpha fact 0", "alpha fact 1")), ("beta", ("beta fact 0", "beta fact 1"))]
    ids = [h.doc_id for hits in results for h in hits]
    assert len(set(ids)) == 4 and all(i.startswith("self:") for i in ids)
    for hits in results:
        for rank, hit in enumerate(hits):
            assert hit.score == pytest.approx(1.0 / (rank + 1))
            passage = engine.access(hit.doc_id)
            assert passage.text == hit.text and passage.kind == "generated"
    with pytest.raises(UnknownDocumentError):
        engine.access("self:unknown")
    engine.search(["gamma"], 1)
    assert engine.last_spans == [("gamma", ("gamma fact 0",))]
    assert engine.access(ids[0]).text == "alpha fact 0"  # earlier documents stay accessible


def test_bad_callables_are_rejected() -> None:
    with pytest.raises(TypeError):
        SelfSearchEngine("not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one list"):
        SelfSearchEngine(lambda qs, k: [["x"]]).search(["a", "b"], 1)
    with pytest.raises(ValueError, match="list of strings"):
        SelfSearchEngine(lambda qs, k: ["flat string" for _ in qs]).search(["a"], 1)
    with pytest.raises(TypeError):
        SelfSearchEngine(Scripted()).search("a", 1)  # type: ignore[arg-type]


def test_titles_are_parsed_and_old_documents_evicted() -> None:
    assert split_title('"Hobraland"\nHobraland is a country.') == ("Hobraland", "Hobraland is a country.")
    assert split_title("no title here") == (None, "no title here")
    engine = SelfSearchEngine(lambda qs, k: [['"T"\nbody', "plain"] for _ in qs], max_docs_kept=2)
    [hits] = engine.search(["q"], 2)
    assert (hits[0].title, hits[0].text) == ("T", "body") and hits[1].title == "Self-search"
    engine.search(["other"], 2)
    with pytest.raises(UnknownDocumentError):
        engine.access(hits[0].doc_id)


def test_world_checks_measure_grounding(small_bundle) -> None:
    world = small_bundle.world
    task = next(t for t in small_bundle.tasks.tasks if t.task_type == "chain" and t.hops == 1)
    subject = world.name(task.chain[0].subject)
    answer = task.answer
    engine = SelfSearchEngine(lambda qs, k: [[f"{subject} is linked to {answer}.", "nothing useful"] for _ in qs], world=world)
    engine.search([task.question], 2)
    [check] = engine.last_checks
    assert check["mentioned"] == [task.chain[0].subject]
    assert check["doc_facts"][0] >= 1 and check["doc_facts"][1] == 0 and check["grounded"] is True


def test_template_self_search_returns_real_passages(small_bundle) -> None:
    docs = template_self_search(small_bundle.world, small_bundle.corpus)
    task = next(t for t in small_bundle.tasks.tasks if t.task_type == "chain" and t.hops == 1)
    [texts] = docs([task.question], 3)
    assert 1 <= len(texts) <= 3
    engine = make_engine("self", small_bundle)
    assert isinstance(engine, SelfSearchEngine)
    [hits] = engine.search([task.question], 3)
    gold = {small_bundle.corpus[d].text for d in task.evidence[0]}
    assert any(hit.text in gold for hit in hits)
    assert engine.last_checks and engine.last_checks[0]["grounded"] is True


class FakeGenerator:
    def __init__(self) -> None:
        self.prompts: list = []
        self.configs: list = []

    def generate(self, prompts, config=None):
        self.prompts.extend(prompts)
        self.configs.append(config)
        return ["Doc 1: first\nDoc 2: second\nDoc 3: third", "free text only"][: len(prompts)]


def test_policy_self_search_prompts_the_generator_in_one_batch() -> None:
    generator = FakeGenerator()
    docs = policy_self_search(generator)
    assert docs(["who is X", "where is Y"], 2) == [["first", "second"], ["free text only"]]
    assert len(generator.configs) == 1
    first = generator.prompts[0]
    assert first[0]["role"] == "user" and "Query: who is X" in first[0]["content"] and "two short documents" in first[0]["content"]
    raw = policy_self_search(FakeGenerator(), "Q={query}", chat=False)
    raw(["z"], 1)
    with pytest.raises(ValueError):
        policy_self_search(generator, "no placeholder")
    with pytest.raises(TypeError):
        policy_self_search(object())
    assert "{query}" in SSRL_DOC_PROMPT


def test_self_search_spec_runs_an_episode() -> None:
    config = load_spec(ENVS / "SearchQA-SelfSearch-v0.toml")
    assert config.engine == "self" and config.engine_options["generator"] == "template"
    config = config.with_overrides({"world_size": 300, "tasks_per_type": 30, "eval_tasks_per_type": 30})
    from searchgym.bundle import build_bundle

    bundle = build_bundle(config.schema, config.world_size, config.world_seed,
                          config.corpus_options(), config.task_options())
    engine = make_self_search_engine(bundle, **config.engine_options)
    env = SearchQAEnv(config, engine=engine)
    env.reset(options={"task_index": 0})
    observation, _, _, _, info = env.step("<search>Hobraland</search>")
    assert info["action_kind"] == "search" and info["doc_ids"] and all(d.startswith("self:") for d in info["doc_ids"])
    assert engine.last_spans and engine.last_spans[0][0] == "Hobraland"
    observation, _, _, _, info = env.step(f"<access>{info['doc_ids'][0]}</access>")
    assert info["error"] is None and info["action_kind"] == "access"
