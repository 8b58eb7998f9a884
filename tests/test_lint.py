"""The build linters: consistent worlds, and a corpus whose every statement the world backs."""

from __future__ import annotations

import dataclasses

import pytest

from searchgym.corpus import Corpus, write_corpus
from searchgym.corpus.lint import corpus_violations
from searchgym.types import Fact, Passage
from searchgym.world import World, build_world
from searchgym.world.lint import LintError, lint_world, world_violations
from searchgym.world.names import has_list_separator


@pytest.fixture(scope="module")
def world():
    return build_world("default", 600, 4)


@pytest.fixture(scope="module")
def corpus(world):
    return write_corpus(world)


def test_generated_worlds_and_corpora_are_clean(world, corpus):
    assert world_violations(world) == []
    assert corpus_violations(world, corpus) == []


def test_every_relation_constraint_holds_for_every_edge(world):
    checked = 0
    for source, relation, target in world.edges:
        for constraint in world.relation(relation).constraints:
            gap = int(world.entity(source).attributes[constraint.source_attr]) - int(
                world.entity(target).attributes[constraint.target_attr])
            assert constraint.min_gap is None or gap >= constraint.min_gap
            assert constraint.max_gap is None or gap <= constraint.max_gap
            checked += 1
    assert checked > 1000


def test_the_inconsistencies_seen_before_cannot_happen(world):
    attrs = {e: world.entity(e).attributes for e in world.entities}
    for source, relation, target in world.edges:
        if relation == "produced_by":  # films after their studio's founding
            assert attrs[source]["release_year"] >= attrs[target]["founded_year"]
        if relation == "university_located_in":  # universities after their city
            assert attrs[source]["founded_year"] >= attrs[target]["founded_year"]
        if relation == "works_for":  # employed before 60, by an organization that exists
            assert attrs[target]["founded_year"] - attrs[source]["birth_year"] <= 60
    for org in world.of_type("organization"):  # stated head counts cover the listed staff
        assert attrs[org]["employees"] >= len(world.sources(org, "works_for"))
    assert not any(has_list_separator(e.name) for e in world.entities.values())


def _tampered(world: World, **changes) -> World:
    entities = [dataclasses.replace(e, attributes=dict(e.attributes)) for e in world.entities.values()]
    edges = list(world.edges) + changes.get("extra_edges", [])
    by_id = {e.id: e for e in entities}
    for entity_id, attribute, value in changes.get("attributes", []):
        by_id[entity_id].attributes[attribute] = value
    renamed = changes.get("rename")
    if renamed:
        entity_id, name = renamed
        by_id[entity_id] = dataclasses.replace(by_id[entity_id], name=name)
        entities = list(by_id.values())
    return World(world.schema, world.size, world.seed, entities, edges)


def test_world_linter_names_each_violation(world):
    film, studio = next((s, t) for s, r, t in world.edges if r == "produced_by")
    founded = world.entity(studio).attributes["founded_year"]
    bad = _tampered(world, attributes=[(film, "release_year", int(founded) - 5)])
    problems = world_violations(bad)
    assert any("produced_by" in p and film in p and "release_year" in p for p in problems)
    org = next(o for o in world.of_type("organization") if world.sources(o, "works_for"))
    assert any("employees" in p for p in world_violations(_tampered(world, attributes=[(org, "employees", 0)])))
    city = world.of_type("city")[0]
    assert any("list separator" in p for p in world_violations(_tampered(world, rename=(city, "Ann and Bo"))))
    person = world.of_type("person")[0]
    second = next(c for c in world.of_type("city") if c not in world.targets(person, "born_in"))
    assert any("born_in" in p and "targets" in p
               for p in world_violations(_tampered(world, extra_edges=[(person, "born_in", second)])))
    with pytest.raises(LintError, match="breaks its schema"):
        lint_world(bad)


def _edit(corpus: Corpus, index: int, **fields) -> Corpus:
    passages = list(corpus.passages)
    passages[index] = dataclasses.replace(passages[index], **fields)
    return Corpus(corpus.world_id, passages)


def test_corpus_linter_catches_what_the_world_does_not_back(world, corpus):
    index, passage = next((i, p) for i, p in enumerate(corpus.passages) if p.kind == "page" and len(p.facts) >= 2)
    false_fact = Fact(passage.entity_id, "born_in", world.of_type("city")[-1]).fact_id
    problems = corpus_violations(world, _edit(corpus, index, facts=(*passage.facts, false_fact)))
    assert any("not a fact of the world" in p or "does not name" in p for p in problems)
    stranger = world.entity(world.of_type("film")[0]).name
    problems = corpus_violations(world, _edit(corpus, index, text=passage.text + f" It was praised by {stranger}."))
    assert any("without recording them as mentions" in p for p in problems)
    problems = corpus_violations(world, _edit(corpus, index, text=passage.text + " It is 4321 years old."))
    assert any("4321" in p for p in problems)
    problems = corpus_violations(world, _edit(corpus, index, text=passage.text + " It is an university."))
    assert any("wording defect" in p for p in problems)


def test_corpus_linter_catches_an_incomplete_list(world, corpus):
    director = next(p for p in world.of_type("person") if len(world.sources(p, "directed_by")) >= 2)
    missing = Fact(world.sources(director, "directed_by")[0], "directed_by", director).fact_id
    passages = [dataclasses.replace(p, facts=tuple(f for f in p.facts if f != missing))
                if p.entity_id == director else p for p in corpus.passages]
    problems = corpus_violations(world, Corpus(corpus.world_id, passages))
    assert any(director in p and "complete list" in p for p in problems)


def test_a_build_whose_corpus_breaks_the_rules_fails_with_a_clear_message(monkeypatch):
    from searchgym import bundle as bundle_module

    original = bundle_module.write_corpus

    def lying_writer(world, options=None):
        corpus = original(world, options)
        first = corpus.passages[0]
        fake = dataclasses.replace(first, text=first.text + " It has 98765 lakes.")
        return Corpus(corpus.world_id, [fake, *corpus.passages[1:]])

    monkeypatch.setattr(bundle_module, "write_corpus", lying_writer)
    with pytest.raises(LintError, match="98765"):
        bundle_module.build_bundle("default", 80, 11, cache=False)


def test_passages_state_facts_with_pronoun_subjects_and_record_them(corpus):
    pronoun_sentences = [p for p in corpus if p.kind == "page" and any(
        f" {w} " in f" {p.text} " for w in ("He", "She", "It", "His", "Her", "Its"))]
    assert len(pronoun_sentences) > len(corpus) // 3
    assert all(isinstance(p, Passage) and p.facts for p in pronoun_sentences[:50])


def test_a_name_matched_only_in_another_case_is_not_an_unrecorded_mention(world, corpus):
    """At 100k entities a page said "Deiye works as a banker" beside a firm called "Deiye Works"."""
    index, passage = next((i, p) for i, p in enumerate(corpus.passages) if p.kind == "page"
                          and p.entity_id in world.of_type("person"))
    org = world.of_type("organization")[0]
    name = world.entity(org).name
    problems = corpus_violations(world, _edit(corpus, index, text=passage.text + f" Later, {name.lower()} is seen."))
    assert not any("without recording them as mentions" in p for p in problems), problems
    problems = corpus_violations(world, _edit(corpus, index, text=passage.text + f" Later, {name} is seen."))
    assert any("without recording them as mentions" in p and org in p for p in problems)


def test_a_name_inside_a_recorded_name_is_not_an_unrecorded_mention(world, corpus):
    """At 1M entities "letters from Sofial Thaebia" matched the film "Letters from Sofial", which
    left "Thaebia", a city's name, to be read as a mention of the city."""
    index, passage = next((i, p) for i, p in enumerate(corpus.passages) if p.kind == "page"
                          and p.entity_id in world.of_type("person"))
    city = world.of_type("city")[0]
    subject = world.entity(passage.entity_id).name
    first = subject.split()[0]
    film = world.of_type("film")[0]
    renamed = _tampered(_tampered(world, rename=(passage.entity_id, f"{first} {world.entity(city).name}")),
                        rename=(film, f"Letters from {first}"))
    name = renamed.entity(passage.entity_id).name
    text = passage.text.replace(subject, name) + f" Former neighbours kept letters from {name}."
    problems = corpus_violations(renamed, _edit(corpus, index, text=text))
    assert not any("without recording them as mentions" in p and city in p for p in problems), problems
    problems = corpus_violations(renamed, _edit(corpus, index, text=text + f" {world.entity(city).name} is far."))
    assert any("without recording them as mentions" in p and city in p for p in problems)
