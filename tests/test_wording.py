"""Wording owned by the schema: strict validation, variety, and no known defects in questions or pages."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from searchgym.corpus.realize import fix_number_agreement
from searchgym.corpus.style import wording_defects
from searchgym.resources import data_path
from searchgym.world import SchemaError, load_schema, parse_schema


def _default_texts() -> tuple[str, str]:
    folder = data_path("corpora") / "schemas"
    return (folder / "default.toml").read_text(), (folder / "default.wording.toml").read_text()


def test_default_schema_ships_enough_wordings_per_fact_kind_and_question_form():
    schema = load_schema("default")
    wording = schema.wording
    assert wording is not None
    for relation in schema.relations:
        words = wording.relations[relation.name]
        assert len(words.forward) >= 8, relation.name
        inverse = len(words.inverse_one) + len(words.inverse_list) + len(words.inverse_notable)
        assert relation.inverse_list == "none" or inverse >= 8 or relation.inverse_functional, relation.name
        for role in ("question", "noun", "inverse_question", "inverse_noun", "count"):
            options = getattr(words, role)
            assert not options or len(options) >= 4, (relation.name, role)
    for name, words in wording.attributes.items():
        assert len(words.sentences) >= 8 and len(words.question) >= 4, name
    for form in ("comparison", "bridge_comparison", "intersection", "intersection_same"):
        assert len(wording.questions[form]) >= 4, form


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s, w: (s, w.replace('[relations.born_in]\n', '[relations.born_in]\nphrase = "x"\n')), "unknown key"),
    (lambda s, w: (s, w.replace('    "{s} is a native of {o}.",', '    "{s} is a native of {place}.",')),
     "unknown slot"),
    (lambda s, w: (s, w.replace('    "{s} is a native of {o}.",', '    "{s} is a native.",')),
     "lacks slot"),
    (lambda s, w: (s, w.replace('    "{s} is a native of {o}.",', '    "{s} is a native of [{o}|a city].",')),
     "required slot"),
    (lambda s, w: (s, w.replace('    "{s} is a native of {o}.",', '    "{s} is a native of {o}[@nowhere].",')),
     "names no pool"),
    (lambda s, w: (s, w.replace('    "{s} is a native of {o}.",', '    "{s} is a native of {o} [then.",')),
     "unbalanced"),
    (lambda s, w: (s, w.replace('[lexicon]\n', '[lexicon]\nloop_a = ["[@loop_b]", "x"]\nloop_b = ["[@loop_a]", "y"]\n')),
     "cycle"),
    (lambda s, w: (s, w.replace('[attributes.genre]\n', '[attributes.genre]\nroundup_narrative = ["The year {v} was long."]\n')),
     "only an attribute with round-up pages"),
    (lambda s, w: (s, w.replace('descriptions = ["the film", "the picture"]', 'descriptions = ["The Film"]')),
     "descriptions"),
    (lambda s, w: (s.replace('[relations.located_in]', '[relations.located_in]\nphrase = "the plays in of"'), w),
     "unknown key"),
    (lambda s, w: (s + '\n[relations.plays_in]\nsource = "person"\ntarget = "city"\ncardinality = "n-1"\n', w),
     "relations.plays_in is missing"),
    (lambda s, w: (s, w.replace("[attributes.genre]", "[attributes.mood]\nlabel = 'x'\nsentences = ['{s} {v}']\n"
                                "question = ['{x}?']\n[attributes.genre]")), "unknown key"),
    (lambda s, w: (s, w.replace('[relations.mentor_of]', '[relations.mentor_of]\nquestion = ["Who did {x} mentor?"]')),
     "never used"),
    (lambda s, w: (s, w.replace('[narrative]\n', '[narrative]\n"robot.Overview" = ["{s} hums."]\n')),
     "is no entity type"),
    (lambda s, w: (s, w.replace('[narrative]\n', '[narrative]\n"film.Campus" = ["{s} hums."]\n')),
     "is no section of film"),
])
def test_bad_wording_fails_on_load_with_the_key_named(tmp_path: Path, edit, message):
    schema_text, wording_text = edit(*_default_texts())
    assert (schema_text, wording_text) != _default_texts(), "the edit no longer applies to the shipped wording"
    with pytest.raises(SchemaError, match=message):
        parse_schema(schema_text, wording_text=wording_text)


def test_unknown_schema_keys_are_errors_not_silently_ignored():
    schema_text, wording_text = _default_texts()
    with pytest.raises(SchemaError, match="unknown key"):
        parse_schema(schema_text.replace("[relations.stars]", "[relations.stars]\nphrase = 'stars in'"),
                     wording_text=wording_text)
    with pytest.raises(SchemaError, match="unknown key"):
        parse_schema(schema_text.replace('name_style = "film"', 'name_style = "film"\nnoun = "movie"'),
                     wording_text=wording_text)


@pytest.mark.parametrize("text", [
    "In which country is the city where X is located located?",
    "Which person has Y as its mentor of?",
    "Which film stars Ann Lee and stars Bo Ray?",
    "Drejo is an university.",
    "Drejo is a economist.",
    "Drejo is a person listed in this encyclopedia.",
    "Drejo was born in {o}.",
    "Drejo was born in 1990 .",
    "drejo was born. he died.",
    "Friends from in the larger cities described Drejo.",
    "Drejo is often wrote about in passing.",
    "Over his career, Drejo has scored 1 goals.",
    "Drejo has 1 career goals.",
    "Old postcards devotes a chapter to Drejo.",
    "The provincial archives is to be believed.",
    "A travel diary spends a chapter to Drejo.",
])
def test_each_known_defect_is_detected(text):
    assert wording_defects(text)


@pytest.mark.parametrize("text", [
    "In which country does the birthplace of Drejo Vaka lie?",
    "Drejo is a university lecturer and an economist.",
    "Which film stars both Ann Lee and Bo Ray?",
    "Born: 1936 · Height (cm): 179 · Occupation: architect.",
    "The Last Laeleir and The Last Liakix were released in 1993.",
    "Drejo has scored 1 goal and 21 goals for the club, 1.5 goals a season.",
    "Drejo is home to 1 million people; it ranks 1 on the list.",
    "Old postcards devote a chapter to Drejo.",
])
def test_clean_sentences_pass(text):
    assert wording_defects(text) == []


def test_generated_questions_have_no_defects_and_vary_in_wording(small_bundle):
    questions = [task.question for task in small_bundle.tasks]
    assert all(wording_defects(q) == [] for q in questions), [q for q in questions if wording_defects(q)][:3]
    names = sorted((e.name for e in small_bundle.world.entities.values()), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in names))
    skeletons: dict[str, Counter[str]] = defaultdict(Counter)
    for task in small_bundle.tasks:
        skeleton = re.sub(r"\d+", "#", pattern.sub("X", task.question))
        skeletons[task.meta["form"]][skeleton] += 1
    varied = [form for form, counts in skeletons.items() if sum(counts.values()) >= 8]
    assert varied
    for form in varied:  # a form asked eight times or more shows several wordings
        assert len(skeletons[form]) >= 3, (form, skeletons[form])


def test_pages_have_no_defects_and_plural_lists_name_several_items(small_bundle):
    for passage in small_bundle.corpus:
        assert wording_defects(passage.text) == [], passage.text
        for sentence in re.split(r"(?<=\.) ", passage.text):
            if re.search(r"\b(are|include)\b [A-Z]", sentence) and "," not in sentence and " and " not in sentence:
                pytest.fail(f"plural list sentence with one item: {sentence!r}")


def test_a_type_can_have_its_own_narrative_for_a_section_it_shares(small_bundle):
    """Films share "Overview" with cities; their pages draw from "film.Overview", never from
    sentences about streets and guides that suit a city."""
    wording = load_schema("default").wording
    assert wording is not None
    assert wording.narrative_for("film", "Overview") == wording.narrative["film.Overview"]
    assert wording.narrative_for("city", "Overview") == wording.narrative["Overview"]
    assert wording.narrative_for("film", "Overview") != wording.narrative["Overview"]
    world = small_bundle.world
    films = [p.text for p in small_bundle.corpus if p.entity_id and world.entity(p.entity_id).type == "film"]
    assert films
    city_only = re.compile(r"\b(?:streets|roads|paths) around\b|to newcomers|Postcards showing")
    assert not [text for text in films if city_only.search(text)]


@pytest.mark.parametrize("text, expected", [
    ("Drejo has scored 1 goals.", "Drejo has scored 1 goal."),
    ("Drejo has 1 career goals and 1 trophies.", "Drejo has 1 career goal and 1 trophy."),
    ("It is issued 1 times a year.", "It is issued 1 time a year."),
    ("Drejo has scored 21 goals, 1.5 goals a season.", "Drejo has scored 21 goals, 1.5 goals a season."),
    ("Drejo is home to 1 million people; it ranks 1 on the list.",
     "Drejo is home to 1 million people; it ranks 1 on the list."),
])
def test_a_noun_after_the_number_one_is_singular(text, expected):
    assert fix_number_agreement(text) == expected


@pytest.mark.parametrize("text, names, defects", [
    ("Heiro Heiro appeared in The Breistarn.", ["Heiro Heiro"], []),  # a name may double a word
    ("Heiro Heiro appeared in The Breistarn.", [], ["repeated word"]),  # unless nobody says it is one
    ("Heiro appeared in in The Breistarn.", ["Heiro"], ["repeated word"]),  # the template's own repeat
    ("Heiro Heiro Heiro Heiro appeared.", ["Heiro Heiro"], ["repeated word"]),  # a name written twice
    ("Kala Bo Kala Bo won.", ["Kala Bo Kala Bo"], []),
    ("Heiro Heiro was born in 1990 .", ["Heiro Heiro"], ["space before punctuation"]),  # others as written
])
def test_a_name_that_repeats_a_word_is_no_wording_defect(text, names, defects):
    assert wording_defects(text, names) == defects
