"""The bundled domains (default, science, sport): they build, lint, preview, and are deterministic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchgym.corpus import write_corpus
from searchgym.corpus.lint import lint_corpus
from searchgym.corpus.style import wording_defects
from searchgym.envs.config import load_spec
from searchgym.preview import preview_text
from searchgym.resources import data_path
from searchgym.world import SchemaError, build_world, load_schema, parse_schema
from searchgym.world.lint import lint_world

SCHEMAS = ("default", "science", "sport")


@pytest.mark.parametrize("schema", SCHEMAS)
def test_each_schema_builds_a_linted_world_and_corpus(schema):
    world = build_world(schema, 300, 1)
    lint_world(world)
    corpus = write_corpus(world)
    lint_corpus(world, corpus)
    assert {e.type for e in world.entities.values()} == {t.name for t in world.schema.entity_types}
    assert all(not wording_defects(p.text) for p in corpus)


@pytest.mark.parametrize(("env_id", "schema"), [("SearchQA-Science-v0", "science"), ("SearchQA-Sport-v0", "sport")])
def test_each_domain_has_its_own_env_spec(env_id, schema):
    assert load_spec(env_id).schema == schema


def test_name_forms_give_a_type_its_own_names():
    import re

    world = build_world("science", 300, 0)
    for type_name in ("journal", "paper", "award", "institute"):
        forms = world.schema.entity_type(type_name).name_forms
        patterns = [re.compile("^" + re.escape(f).replace(r"\{w\}", "[A-Z][a-z]+").replace(r"\{v\}", "[A-Z][a-z]+") + "$")
                    for f in forms]
        # look-alikes (a letter of an existing name changed, on purpose) may bend the pattern
        names = [world.name(e) for e in world.of_type(type_name) if world.entity(e).look_alike_of is None]
        assert names and all(any(p.match(n) for p in patterns) for n in names), type_name


@pytest.mark.parametrize(("forms", "message"), [
    ('["Journal of {w} and {v}"]', "list separator"),
    ('["{w} Prize", "{place} Medal"]', "must use the slots"),
    ('["Award"]', "must use the slots"),
    ('["{w} Prize 2000"]', "digit"),
])
def test_bad_name_forms_fail_on_load(forms, message):
    folder = data_path("corpora") / "schemas"
    text = (folder / "science.toml").read_text()
    wording = (folder / "science.wording.toml").read_text()
    text = text.replace('name_forms = ["{w} Medal", "{w} Prize", "{w} Award", "{w} Lectureship", "{w} Fellowship", "Order of {w}"]',
                        f"name_forms = {forms}")
    assert f"name_forms = {forms}" in text
    with pytest.raises(SchemaError, match=message):
        parse_schema(text, wording_text=wording)


def test_preview_shows_pages_of_every_type_and_verified_questions():
    text = preview_text("sport", size=200, questions=1)
    for type_name in ("player", "club", "league", "stadium", "manager"):
        assert f"## {type_name}: " in text
    assert "Infobox:" in text and "== Overview ==" in text
    questions = [line for line in text.splitlines() if line.startswith("- [")]
    assert len(questions) >= 6 and all("  ->  " in q for q in questions)


def test_preview_of_an_unknown_schema_is_a_one_line_error(capsys):
    from searchgym.cli import main

    with pytest.raises(SystemExit, match="no schema file 'nope'"):
        main(["preview", "--schema", "nope"])


@settings(max_examples=6, deadline=None)
@given(schema=st.sampled_from(SCHEMAS), size=st.integers(20, 90), seed=st.integers(0, 2**31 - 1))
def test_same_schema_size_and_seed_give_a_byte_identical_corpus(schema, size, seed):
    loaded = load_schema(schema)
    first = write_corpus(build_world(loaded, size, seed))
    second = write_corpus(build_world(load_schema(schema), size, seed))
    assert first.to_jsonl() == second.to_jsonl()
    assert first.content_hash == second.content_hash


def test_no_invented_name_is_a_phrase_the_wording_writes():
    from searchgym.world.names import ReservedPhrases

    reserved = ReservedPhrases(["[a reading circle|a small drama group]", "{s} is known in [@place].", "parish records"])
    assert reserved.holds("drama group") and reserved.holds("parish") and reserved.holds("known")
    assert not reserved.holds("vrostiamel") and not reserved.holds("drama vrostiamel")


def test_a_short_name_that_names_another_entity_is_never_used():
    """"Grouhe" for "Waekru Grouhe" would read as the city Grouhe: the page says the full name."""
    import numpy as np

    from searchgym.corpus.article import reference_for
    from searchgym.world.world import Entity, World

    schema = load_schema("default")
    entities = [Entity("person_000000", "person", "Waekru Grouhe"), Entity("city_000000", "city", "Grouhe"),
                Entity("person_000001", "person", "Shishom Megrern")]
    world = World(schema, 20, 0, entities, [])
    assert reference_for(world, "person_000000", np.random.default_rng(0)).short == "Waekru Grouhe"
    assert reference_for(world, "person_000001", np.random.default_rng(0)).short == "Megrern"
