"""The LLM writer: its verifier, its resumable cache, and an end-to-end run with SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchgym.corpus import write_corpus
from searchgym.corpus.lint import lint_corpus, world_facts
from searchgym.corpus.rewrite import _RewriteStore, rewrite_corpus, verify_rewrite
from searchgym.search.grounding import Grounder, normalize
from searchgym.world import build_world


@pytest.fixture(scope="module")
def written():
    world = build_world("default", 200, 5)
    corpus = write_corpus(world)
    facts = world_facts(world)
    grounder = Grounder(world, max_edit_distance=0)
    categories = frozenset(normalize(v) for t in world.schema.entity_types for a in t.attributes for v in a.values)
    return world, corpus, facts, grounder, categories


def _passage_with(corpus, facts, predicate):
    return next(p for p in corpus if p.kind == "page" and any(predicate(facts[f]) for f in p.facts))


def _check(written, passage, text):
    world, _, facts, grounder, categories = written
    return verify_rewrite(world, passage, text, facts, grounder, categories)


def test_every_template_passage_verifies_as_its_own_rewrite(written):
    world, corpus, *_ = written
    assert all(_check(written, p, p.text) is None for p in corpus if p.kind == "page")


def test_a_rewrite_that_drops_a_name_or_adds_a_number_is_rejected(written):
    world, corpus, facts, *_ = written
    passage = _passage_with(corpus, facts, lambda f: f.is_relation and f.subject != f.object)
    fact = next(facts[f] for f in passage.facts if facts[f].is_relation)
    other = fact.object if fact.subject == passage.entity_id else fact.subject
    name = world.name(str(other))
    assert _check(written, passage, passage.text.replace(name, "someone")) == "fact check"
    assert _check(written, passage, passage.text.rstrip(".") + " in 1871.") == "fact check"


def test_a_misspelt_or_coined_name_is_rejected(written):
    world, corpus, *_ = written
    passage = next(p for p in corpus if p.kind == "page" and len(p.title) > 6)
    title = passage.title
    misspelt = title[:-2] + ("x" if title[-2] != "x" else "z") + title[-1]
    text = passage.text.replace(title, misspelt, 1) + f" Later {title} was praised."
    assert _check(written, passage, text) == "new or misspelt name"
    coined = passage.text + f" It was admired by Vrostiamel Quonder."
    assert _check(written, passage, coined) in {"new or misspelt name", "fact check"}


def test_a_fact_moved_to_another_relation_is_rejected(written):
    """The birthplace still named, but no longer as a birthplace: names alone do not pass."""
    from searchgym.corpus.quality import sentences

    world, corpus, facts, *_ = written
    for passage in (p for p in corpus if p.kind == "page"):
        born = [facts[f] for f in passage.facts if facts[f].relation == "born_in" and facts[f].subject == passage.entity_id]
        if not born:
            continue
        city = world.name(str(born[0].object))
        others = [world.name(m) for m in passage.mentions if world.name(m) != city and m != passage.entity_id]
        parts = sentences(passage.text)
        hits = [i for i, part in enumerate(parts) if city in part]
        if len(hits) != 1 or any(ch.isdigit() for ch in parts[hits[0]]) or any(o in parts[hits[0]] for o in others):
            continue
        parts[hits[0]] = f"{city} keeps a weekly market."
        assert _check(written, passage, " ".join(parts)) == "fact not stated in a sentence"
        return
    pytest.fail("no passage states a birthplace in a sentence of its own")


def test_a_new_category_value_is_rejected(written):
    world, corpus, facts, *_ = written
    passage = next(p for p in corpus if p.kind == "page" and "surgeon" not in p.text)
    assert _check(written, passage, passage.text + " Some called it the work of a surgeon.") == "new category value"


def test_the_rewrite_store_resumes_after_a_line_cut_short(tmp_path: Path):
    path = tmp_path / "rewrites.jsonl"
    store = _RewriteStore(path)
    store.add([("a", "first"), ("b", "second")])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"k": "c", "t": "cut sho')  # a kill in the middle of a write
    reopened = _RewriteStore(path)
    assert reopened.done == {"a": "first", "b": "second"}
    reopened.add([("c", "third")])
    assert _RewriteStore(path).done == {"a": "first", "b": "second", "c": "third"}
    assert all(json.loads(line) for line in path.read_text().splitlines()[:2])


@pytest.mark.slow
def test_smollm2_rewrites_are_verified_cached_and_resumed(tmp_path: Path):
    """End to end on CPU with the bundled SmolLM2-135M: rewrite a few passages of a tiny world,
    keep only verified rewrites (the corpus still lints), then resume after a simulated kill."""
    from searchgym.llm import make_generator

    world = build_world("default", 20, 0)
    corpus = write_corpus(world)
    generator = make_generator("smollm2")
    options = dict(generator=generator, batch_size=2, limit=2, max_new_tokens=120, cache_dir=tmp_path,
                   show_progress=False)
    rewritten, report = rewrite_corpus(world, corpus, "smollm2", **options)
    assert report.passages == 2 and report.generated == 2 and report.cached == 0
    assert report.accepted + sum(report.rejected.values()) == 2
    lint_corpus(world, rewritten)
    changed = [p for p, q in zip(corpus, rewritten) if p.text != q.text]
    assert len(changed) <= report.accepted
    assert [(p.doc_id, p.facts, p.mentions) for p in corpus] == [(p.doc_id, p.facts, p.mentions) for p in rewritten]
    (store,) = tmp_path.glob("*.jsonl")
    lines = store.read_text().splitlines()
    store.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # killed mid-write
    again, resumed = rewrite_corpus(world, corpus, "smollm2", **options)
    assert resumed.generated == 1 and resumed.cached == 1
    # the passage whose rewrite survived the kill is reused as is (the other was generated again,
    # alone in its batch, which greedy decoding need not reproduce bit for bit)
    first = next(p.doc_id for p in corpus if p.kind == "page")
    assert again[first].text == rewritten[first].text
    lint_corpus(world, again)
