"""Long-form profile tasks: citation sentences, the grounding matcher on real prose, nuggets
that the reference profile states, and the grade's support and contradiction rules."""

from __future__ import annotations

import numpy as np
import pytest

from searchgym.citations import CitedSentence, cited_sentences
from searchgym.claim_templates import fact_patterns
from searchgym.claims import claim_reader
from searchgym.envs.config import load_spec
from searchgym.nuggets import grade_longform, states_nugget
from searchgym.tasks.deep import ObfuscatedMaker
from searchgym.tasks.profiles import ProfileMaker, profile_sentence
from searchgym.wrappers import REWARD_WRAPPERS


def test_citations_attach_to_the_sentence_they_end():
    text = "A was born in 1957 [doc: p1]. B is a painter. [p2, p3]\nC [1990] is old.[doc: p4] D."
    assert cited_sentences(text) == [
        CitedSentence("A was born in 1957 .", ("p1",)), CitedSentence("B is a painter.", ("p2", "p3")),
        CitedSentence("C [1990] is old.", ("p4",)), CitedSentence("D.", ())]
    assert cited_sentences("") == [] and cited_sentences("[doc: a]") == []


@pytest.fixture(scope="module")
def profiles(small_bundle):
    world = small_bundle.world
    maker = ProfileMaker(world, np.random.default_rng(7), ObfuscatedMaker(world, np.random.default_rng(7)))
    drawn = [c for c in (maker.candidate() for _ in range(200)) if c is not None]
    assert len(drawn) >= 20
    return drawn


def test_profile_nuggets_are_single_valued_facts_of_a_subject_unambiguous_by_name(small_bundle, profiles):
    world = small_bundle.world
    for candidate in profiles:
        subject = candidate.meta["subject"]
        assert candidate.topic_entities == (subject,) and 3 <= len(candidate.facts) <= 4
        assert any(f.is_relation for f in candidate.facts)
        assert [m.entity_id for m in claim_reader(world).grounder.mentions(world.name(subject))] == [subject]
        aspects = [n["aspect"] for n in candidate.meta["nuggets"]]
        assert len(set(aspects)) == len(aspects) and all(f"the {a}" in candidate.question for a in aspects)
        for fact, nugget in zip(candidate.facts, candidate.meta["nuggets"]):
            assert fact.fact_id == nugget["fact_id"] and subject in (fact.subject, fact.object)


def _evidence(corpus, candidate):
    return [corpus.passages_stating(f.fact_id) for f in candidate.facts]


def test_the_reference_profile_states_every_nugget_and_citations_decide_support(small_bundle, profiles):
    world, corpus = small_bundle.world, small_bundle.corpus
    for candidate in profiles:
        evidence = _evidence(corpus, candidate)
        if not all(evidence):
            continue  # generation drops a candidate whose fact the corpus does not state
        nuggets, subject = candidate.meta["nuggets"], candidate.meta["subject"]
        shown = {d for docs in evidence for d in docs}
        cited = " ".join(f"{profile_sentence(world, subject, n)[:-1]} [doc: {docs[0]}]."
                         for n, docs in zip(nuggets, evidence))
        full = grade_longform(candidate.meta, cited, evidence, shown, world)
        assert full == {"em": 1.0, "f1": 1.0, "nugget_recall": 1.0, "citation_support": 1.0, "contradictions": 0.0}
        uncited = grade_longform(candidate.meta, candidate.answer, evidence, shown, world)
        assert uncited["nugget_recall"] == 1.0 and uncited["citation_support"] == uncited["f1"] == 0.0
        unsearched = grade_longform(candidate.meta, cited, evidence, set(), world)
        assert unsearched["citation_support"] == 0.0
        own = grade_longform(candidate.meta, cited, evidence, shown, world, trusted=False)
        assert own["citation_support"] == 0.0


def test_the_matcher_reads_true_prose_as_true(small_bundle):
    """Corpus passages state only true facts: claims read from them are (almost) never
    contradictions. The few misreadings are decorative sentences ("An amateur historian
    sketched X"), which cost an honest copier of passages at most one nugget's credit."""
    reader = claim_reader(small_bundle.world)
    claims = [c for p in list(small_bundle.corpus.passages)[:2000]
              for s in cited_sentences(p.text) for c in reader.claims(s.text, p.entity_id)]
    assert len(claims) >= 800
    assert sum(not c.true for c in claims) / len(claims) < 0.01


def test_an_agent_quoting_the_corpus_is_read_as_stating_the_nuggets(small_bundle, profiles):
    """Every way the corpus states a fact reads as that fact: filler-only sentences ("traces its
    beginnings to 1539", "first saw the light of day in Y"), two-fact sentences ("After studying
    at U, X joined W"), leads ("X (b. 1946) is a chemist") and "extends over 9177 square
    kilometres" (not an approximation), facts inside attributions (", according to an amateur
    historian"): 584 of 620 sampled nuggets read before the wording's fact sentences became
    patterns (:mod:`searchgym.claim_templates`), 619 after, 620 with attributions masked."""
    world, corpus = small_bundle.world, small_bundle.corpus
    reader = claim_reader(world)
    stated = total = 0
    for candidate in profiles:
        subject = candidate.meta["subject"]
        for nugget, docs in zip(candidate.meta["nuggets"], _evidence(corpus, candidate)):
            total += 1
            stated += any(states_nugget(reader.claims(s.text, subject), subject, nugget)
                          for doc in docs for s in cited_sentences(corpus.passages.access(doc).text))
    assert total >= 60 and stated / total >= 0.99, (stated, total)


def _person_and_cities(small_bundle, profiles):
    """A profiled person, its birthplace and another city: the claims the reader tests build on."""
    world = small_bundle.world
    person = next(c for c in profiles if world.entity(c.meta["subject"]).type == "person").meta["subject"]
    city = next(iter(world.targets(person, "born_in")))
    other = next(e for e in world.of_type("city") if e != city)
    return world, claim_reader(world), person, city, other, world.name(person)


def test_fact_patterns_read_filler_sentences_and_keep_hedges_hedged(small_bundle, profiles):
    world, reader, person, city, other, name = _person_and_cities(small_bundle, profiles)
    [claim] = reader.claims(f"{name} first saw the light of day in {world.name(city)}.", person)
    assert claim.true and claim.key == "born_in"
    hedged = reader.claims(f"{name} first saw the light of day in {world.name(city)} or {world.name(other)}.", person)
    nugget = {"key": "born_in", "value": city, "entity": True}
    assert not states_nugget(hedged, person, nugget) and any(not c.true for c in hedged)


def test_attributions_are_not_claims_and_hide_none(small_bundle, profiles):
    """The wording's attribution phrases (", according to an amateur historian", "As a local
    priest points out, ") say who reports a fact: their words are no occupation of the subject
    (a false claim that voided the sentence's true facts), and a false fact next to one is
    still a false claim."""
    world, reader, person, city, other, name = _person_and_cities(small_bundle, profiles)
    for aside in ("{}, according to an amateur historian.", "As a local priest points out, {}.",
                  "{}, as a retired schoolteacher once pointed out."):
        claims = reader.claims(aside.format(f"{name} was born in {world.name(city)}"), person)
        assert [(c.key, c.true) for c in claims] == [("born_in", True)], (aside, claims)
        false = reader.claims(aside.format(f"{name} was born in {world.name(other)}"), person)
        assert [(c.key, c.true) for c in false] == [("born_in", False)], (aside, false)
    # the same words outside an attribution are still read, and a phrase never starts or ends
    # inside a word (which shifted the mask onto the next word: "architect" below)
    assert any(c.key == "occupation" for c in reader.claims(f"{name} is a historian.", person))
    patterns = fact_patterns(world)
    assert not patterns.aside_positions("Her claim was disputed, which few disputed.")
    occupation = world.entity(person).attributes["occupation"]
    wrong = next(o for o in ("architect", "painter", "chemist") if o != occupation)
    shifted = reader.claims(f"{name} was Thomas a local priest points out, {wrong}.", person)
    assert ("occupation", False) in [(c.key, c.true) for c in shifted]


def test_the_matcher_reads_values_pronouns_and_approximations(small_bundle, profiles):
    world = small_bundle.world
    reader = claim_reader(world)
    person = next(c for c in profiles if world.entity(c.meta["subject"]).type == "person").meta["subject"]
    year = world.entity(person).attributes["birth_year"]
    name = world.name(person)
    [claim] = reader.claims(f"{name} was born in {year}.", person)
    assert claim.true and claim.key == "birth_year" and claim.value == year
    [claim] = reader.claims(f"She was born in {year + 1}.", person)
    assert not claim.true and claim.subject == person
    assert reader.claims(f"{name} was born about {year + 1}.", person) == []
    assert reader.claims(f"Could you write a short profile of {name} covering the birth year?", person) == []


def test_open_spec_serves_profiles_and_the_registry_names_the_rubric_terms():
    config = load_spec("SearchQA-Open-v0")
    assert "profile" in config.task_types and config.task_options().deep
    assert {"citation_support", "nugget_recall", "contradiction"} <= set(REWARD_WRAPPERS)
