"""Worlds: schema validation, cardinalities, constraints, names and determinism."""

from __future__ import annotations

import statistics
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgym.world import SchemaError, build_world, load_schema, parse_schema
from searchgym.world.names import normalize_name


@pytest.fixture(scope="module")
def world():
    return build_world("default", 2000, 7)


def test_default_schema_has_required_types_and_cardinalities():
    schema = load_schema("default")
    types = {t.name for t in schema.entity_types}
    assert {"person", "city", "country", "organization", "film", "university"} <= types
    assert {r.cardinality for r in schema.relations} >= {"1-1", "1-n", "n-1"}
    assert all(len(t.attributes) >= 2 for t in schema.entity_types)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(min_value=20, max_value=400), seed=st.integers(min_value=0, max_value=2**31))
def test_same_schema_size_seed_gives_byte_identical_world(size, seed):
    first = build_world("default", size, seed)
    second = build_world("default", size, seed)
    assert first.canonical_bytes() == second.canonical_bytes()
    assert first.world_id == second.world_id


def test_different_seeds_give_different_worlds():
    assert build_world("default", 200, 1).canonical_bytes() != build_world("default", 200, 2).canonical_bytes()


def test_functional_relations_are_functional(world):
    for relation in world.schema.relations:
        out_degree = Counter(s for s, r, _ in world.edges if r == relation.name)
        in_degree = Counter(t for _, r, t in world.edges if r == relation.name)
        if relation.functional:
            assert max(out_degree.values()) == 1, relation.name
        if relation.inverse_functional:
            assert max(in_degree.values()) == 1, relation.name
        if relation.cardinality == "n-n":
            assert max(out_degree.values()) <= relation.max_per_source


def test_edges_respect_entity_types_and_no_self_loops(world):
    for source, relation, target in world.edges:
        spec = world.relation(relation)
        assert world.entity(source).type == spec.source
        assert world.entity(target).type == spec.target
        assert source != target


def test_symmetric_relation_holds_both_ways(world):
    married = {(s, t) for s, r, t in world.edges if r == "married_to"}
    assert married and all((t, s) in married for s, t in married)


def test_capital_is_located_in_its_country(world):
    for city, relation, country in world.edges:
        if relation == "capital_of":
            assert world.targets(city, "located_in") == [country]
    assert all(world.sources(c, "capital_of") for c in world.of_type("country"))


def test_temporal_constraints_hold(world):
    for film, relation, person in world.edges:
        if relation == "directed_by":
            assert world.entity(person).attributes["birth_year"] + 20 <= world.entity(film).attributes["release_year"]
        if relation == "mentor_of":
            assert world.entity(film).attributes["birth_year"] + 12 <= world.entity(person).attributes["birth_year"]


def test_names_unique_after_normalisation_and_look_alikes_exist(world):
    keys = [normalize_name(n) for e in world.entities.values() for n in (e.name, *e.aliases)]
    assert len(keys) == len(set(keys))
    look_alikes = [e for e in world.entities.values() if e.look_alike_of]
    assert look_alikes
    for entity in look_alikes:
        assert entity.name != entity.look_alike_of
        assert len(entity.name) == len(entity.look_alike_of)


def test_degrees_are_heavy_tailed(world):
    births = Counter(t for _, r, t in world.edges if r == "born_in")
    degrees = sorted(births.values())
    assert degrees[-1] >= 5 * statistics.median(degrees)


def test_graph_is_a_networkx_multidigraph(world):
    graph = world.graph
    assert graph.number_of_nodes() == len(world.entities)
    assert graph.number_of_edges() == len(world.edges)
    node = next(iter(world.entities.values()))
    assert graph.nodes[node.id]["name"] == node.name


def test_ten_thousand_entities_build():
    world = build_world("default", 10_000, 0)
    assert 9_900 <= len(world) <= 10_100


def test_world_round_trips_through_canonical_bytes(world):
    from searchgym.world import World

    again = World.from_canonical_bytes(world.schema, world.canonical_bytes())
    assert again.canonical_bytes() == world.canonical_bytes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'", "entity_types"),
        ("name = 'x'\n[entity_types.a]\nshare = -1", "share"),
        ("name = 'x'\n[entity_types.a]\nshare = 1\n[relations.r]\nsource='a'\ntarget='b'\ncardinality='n-1'", "unknown entity type"),
        ("name = 'x'\n[entity_types.a]\nshare = 1\n[relations.r]\nsource='a'\ntarget='a'\ncardinality='2-2'", "cardinality"),
        ("name = 'x'\n[entity_types.a]\nshare = 1\nattributes.y = { kind = 'year', min = 5, max = 1 }", "min < max"),
        ("name = [", "not valid TOML"),
    ],
)
def test_bad_schemas_fail_with_a_message_naming_the_problem(text, message):
    with pytest.raises(SchemaError, match=message):
        parse_schema(text)


def test_unknown_schema_name_lists_bundled_ones():
    with pytest.raises(SchemaError, match="default"):
        load_schema("no-such-schema")


@pytest.mark.parametrize(("size", "seed"), [(5, 0), (10**8, 0), (100, -1), ("100", 0)])
def test_bad_sizes_and_seeds_are_rejected(size, seed):
    with pytest.raises(ValueError):
        build_world("default", size, seed)


def test_custom_schema_with_unknown_relation_builds(tmp_path):
    text = """
name = "tiny"
[entity_types.robot]
share = 1
name_style = "generic"
attributes.serial = { kind = "number", min = 1, max = 999 }
[entity_types.lab]
share = 0.3
attributes.opened = { kind = "year", min = 1950, max = 2020 }
[relations.assembled_at]
source = "robot"
target = "lab"
cardinality = "n-1"
"""
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    with pytest.raises(SchemaError, match="wording file .* is missing"):
        load_schema(path)  # wording belongs to the schema: no silent generic prose
    (tmp_path / "tiny.wording.toml").write_text(TINY_WORDING)
    schema = load_schema(path)
    world = build_world(schema, 60, 1)
    assert all(len(world.targets(r, "assembled_at")) == 1 for r in world.of_type("robot"))
    from searchgym.corpus import write_corpus
    from searchgym.corpus.lint import corpus_violations

    corpus = write_corpus(world)
    assert corpus_violations(world, corpus) == []
    assert any("was assembled at" in p.text for p in corpus)


TINY_WORDING = """
[types.robot]
noun = "robot"
plural = "robots"
pronouns = ["it"]
short_name = "full"
sections = ["Overview"]
leads = ["{name} is a robot.", "{name} is a robot with serial number {serial}."]
[types.lab]
noun = "lab"
plural = "labs"
pronouns = ["it"]
short_name = "full"
sections = ["Overview", "Robots"]
leads = ["{name} is a lab opened in {opened}."]
[relations.assembled_at]
target_section = "Robots"
label = "Assembled at"
forward = ["{s} was assembled at {o}."]
inverse_one = ["{item} was assembled at {t}."]
inverse_list = ["The robots assembled at {t} are {items}."]
noun = ["the lab where {x} was assembled"]
question = ["Where was {x} assembled?"]
filter = ["was assembled at {o}"]
count = ["How many robots were assembled at {x}?"]
bridge = ["lab"]
[attributes.serial]
label = "Serial"
sentences = ["{s} has serial number {v}."]
question = ["What is the serial number of {x}?"]
larger = ["has the higher serial number"]
smaller = ["has the lower serial number"]
[attributes.opened]
label = "Opened"
sentences = ["{s} opened in {v}."]
question = ["When did {x} open?"]
larger = ["opened later"]
smaller = ["opened earlier"]
[questions]
comparison = ["Which {type} {predicate}: {a} or {b}?"]
bridge_comparison = ["Which {type}'s {bridge} {predicate}: {a} or {b}?"]
intersection = ["Which {type} {f1} and {f2}?"]
intersection_same = ["Which {type} {f}?"]
"""


@pytest.mark.parametrize("style, forms", [("film", ()), ("university", ()), ("organization", ()),
                                          ("team", ("{w} Rovers", "Dynamo {w}", "Sporting {w} of {v}"))])
def test_look_alike_names_change_a_drawn_word_never_a_word_of_the_form(style, forms):
    """"Summer at X" once became "Summer an X", which the article fixer then rewrote in the text."""
    from searchgym.world.names import NameGenerator, _form_words

    names = NameGenerator(np.random.default_rng(3), similar_rate=0.5)
    drawn = [names.new(style, forms) for _ in range(400)]
    look_alikes = [(name, original) for name, _, original in drawn if original is not None]
    assert len(look_alikes) > 100
    fixed = _form_words("forms:" + "|".join(forms) if forms else style)
    for name, original in look_alikes:
        changed = [(a, b) for a, b in zip(name.split(), original.split()) if a != b]
        assert len(changed) == 1 and changed[0][1] not in fixed, (name, original)
