"""Compact loaded worlds (issue 18 item 5): a world read from its column file keeps its
entities and edges as arrays, yet answers every look-up exactly as the world it was saved from."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchgym.columns import ColumnFileError
from searchgym.world import World, build_world, load_schema
from searchgym.world.entity_table import IdIndex
from searchgym.world.links import ArrayLinks, DictLinks
from searchgym.world.storage import load_world_columns, save_world_columns
from searchgym.world.world import Entity


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A world built in this process (dict look-ups) and its column file."""
    world = build_world("default", 300, 3)
    path = tmp_path_factory.mktemp("compact") / "world.columns"
    save_world_columns(world, path)
    return world, path


def test_a_loaded_world_answers_every_look_up_as_the_built_one(saved):
    built, path = saved
    loaded = load_world_columns(built.schema, path)
    assert isinstance(loaded._links(), ArrayLinks) and isinstance(built._links(), DictLinks)
    relations = [relation.name for relation in built.schema.relations]
    for entity_id in built.entities:
        for relation in relations:
            assert loaded.targets(entity_id, relation) == built.targets(entity_id, relation)
            assert loaded.sources(entity_id, relation) == built.sources(entity_id, relation)
        assert loaded.relation_facts(entity_id) == built.relation_facts(entity_id)
        assert loaded.entity(entity_id) == built.entity(entity_id)
        assert loaded.entity(entity_id).attributes == built.entity(entity_id).attributes
    assert list(loaded.entities.values()) == list(built.entities.values())
    assert [a for a, _ in loaded.entities.items()] == list(built.entities)
    assert loaded.canonical_bytes() == built.canonical_bytes()


def test_a_returned_look_up_is_the_callers_to_change(saved):
    built, path = saved
    loaded = load_world_columns(built.schema, path)
    source, relation, _ = built.edges[0]
    first = loaded.targets(source, relation)
    first.append("junk")
    assert loaded.targets(source, relation) == built.targets(source, relation)


@pytest.mark.parametrize("key", [None, 3, ("a",), ["unhashable"], "", "no_such_entity_000001"])
def test_any_key_that_names_no_entity_is_absent_and_never_raises_but_key_error(saved, key):
    built, path = saved
    loaded = load_world_columns(built.schema, path)
    assert key not in loaded.entities
    with pytest.raises(KeyError):
        loaded.entities[key]
    if isinstance(key, str):
        assert loaded.targets(key, "born_in") == [] and loaded.sources(key, "born_in") == []


def test_an_unpickled_world_finds_its_entities_under_another_hash_seed(saved, tmp_path):
    """The id index is made of ``hash`` values, salted per process: it is rebuilt, not pickled."""
    built, path = saved
    loaded = load_world_columns(built.schema, path)
    some = list(built.entities)[::7][:20]
    loaded.entity(some[0])
    loaded.targets(*built.edges[0][:2])
    (tmp_path / "world.pickle").write_bytes(pickle.dumps(loaded))
    script = (
        "import pickle, sys\n"
        "world = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print('|'.join(world.entity(e).name for e in sys.argv[2:]))\n"
        "print(world.targets(*sys.argv[2:3], 'born_in'))\n"
    )
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "world.pickle"), *some],
            capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        names, targets = done.stdout.splitlines()
        assert names == "|".join(built.entity(e).name for e in some)
        assert targets == str(built.targets(some[0], "born_in"))


@settings(max_examples=80, deadline=None)
@given(ids=st.lists(st.text(max_size=6), unique=True, max_size=40), probe=st.text(max_size=6))
def test_the_id_index_finds_every_id_at_its_row_and_nothing_else(ids, probe):
    index = IdIndex(ids)
    assert [index.row(value) for value in ids] == list(range(len(ids)))
    assert index.row(probe) == (ids.index(probe) if probe in ids else None)


def test_equal_hashes_of_distinct_ids_are_told_apart():
    """Python hashes -1 and -2 alike; strings whose hashes collide are rare, so the collision
    path is driven through ints' hashing rule by a str subclass with a fixed hash."""

    class Colliding(str):
        def __hash__(self) -> int:
            return 7

    ids = [Colliding("x"), Colliding("y"), Colliding("z"), "w"]
    index = IdIndex(ids)
    assert [index.row(Colliding(value)) for value in "xyzw"] == [0, 1, 2, None]
    assert index.row("w") == 3
    with pytest.raises(ValueError, match="duplicate id 'x'"):
        IdIndex([Colliding("x"), Colliding("y"), Colliding("x")])


def test_a_column_file_with_a_duplicate_entity_id_is_refused(tmp_path):
    entities = [Entity("a", "city", "A"), Entity("b", "city", "B")]
    world = World(load_schema("default"), 20, 0, entities, [])
    save_world_columns(world, tmp_path / "w.columns")
    data = (tmp_path / "w.columns").read_bytes()
    (tmp_path / "w.columns").write_bytes(data.replace(b"a\0b\0", b"a\0a\0", 1))
    with pytest.raises(ColumnFileError, match="duplicate entity ids"):
        load_world_columns(world.schema, tmp_path / "w.columns")


def test_edge_endpoints_that_are_no_entity_are_looked_up_too(tmp_path):
    entities = [Entity("a", "city", "A"), Entity("b", "person", "B")]
    edges = [("b", "born_in", "a"), ("b", "born_in", "ghost"), ("ghost", "born_in", "a")]
    world = World(load_schema("default"), 20, 0, entities, edges)
    save_world_columns(world, tmp_path / "w.columns")
    loaded = load_world_columns(world.schema, tmp_path / "w.columns")
    for node in ("a", "b", "ghost"):
        assert loaded.targets(node, "born_in") == world.targets(node, "born_in")
        assert loaded.sources(node, "born_in") == world.sources(node, "born_in")
    assert "ghost" not in loaded.entities


def test_edges_out_of_the_worlds_order_fail_the_first_look_up_not_answer_it(tmp_path):
    """A corruption that keeps edges grouped by source (``b -> a`` twice) must not be answered."""
    import numpy as np

    from searchgym.columns import ColumnReader

    entities = [Entity("a", "city", "A"), Entity("b", "person", "B"), Entity("c", "city", "C")]
    world = World(load_schema("default"), 20, 0, entities, [("b", "born_in", "a"), ("b", "born_in", "c")])
    save_world_columns(world, tmp_path / "w.columns")
    targets = ColumnReader(tmp_path / "w.columns").array("edge.target")
    data = bytearray((tmp_path / "w.columns").read_bytes())
    start = data.find(targets.tobytes())
    data[start : start + targets.nbytes] = np.array([0, 0], dtype="<i4").tobytes()
    (tmp_path / "w.columns").write_bytes(bytes(data))
    loaded = load_world_columns(world.schema, tmp_path / "w.columns")
    with pytest.raises(ColumnFileError, match="out of the world's order"):
        loaded.targets("b", "born_in")


def test_the_look_up_memo_is_bounded_and_answers_stay_exact(saved, monkeypatch):
    from searchgym.world import links

    monkeypatch.setattr(links, "MEMO_ENTRIES", 50)
    built, path = saved
    loaded = load_world_columns(built.schema, path)
    relations = [relation.name for relation in built.schema.relations]
    for _ in range(2):
        for entity_id in built.entities:
            for relation in relations:
                assert loaded.targets(entity_id, relation) == built.targets(entity_id, relation)
                assert loaded.sources(entity_id, relation) == built.sources(entity_id, relation)
    assert 0 < len(loaded._links()._memo) <= 50


def test_names_and_facts_of_a_loaded_world_make_no_entity_per_look_up(saved):
    built, path = saved
    loaded = load_world_columns(built.schema, path)
    assert [loaded.name(e) for e in built.entities] == [built.name(e) for e in built.entities]
    assert loaded.facts() == built.facts()
    assert loaded.entities._made == {}
    with pytest.raises(KeyError):
        loaded.name("no_such_entity")


def test_a_grounder_made_for_another_object_of_the_same_world_is_replaced(saved):
    from searchgym.search.grounding import get_grounder

    built, path = saved
    loaded = load_world_columns(built.schema, path)
    assert get_grounder(built).world is built
    assert get_grounder(loaded).world is loaded  # the built world is no longer held by the cache
    assert get_grounder(loaded) is get_grounder(loaded)
