"""Column files (issue 18): bundles are cached as arrays, read back exactly, and a truncated
or corrupted column file is rebuilt with a warning, never half-read or crashed on."""

from __future__ import annotations

import logging
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchgym.cache import MANIFEST_NAME, ArtifactCache, content_hash_of, stable_json
from searchgym.columns import ColumnFileError, ColumnReader, ColumnWriter
from searchgym.corpus.corpus import Corpus
from searchgym.search.corpus_index import PassageStore, store_hash
from searchgym.world import World, load_schema
from searchgym.world.storage import load_world_columns, save_world_columns
from searchgym.world.world import Entity

texts = st.lists(st.text(max_size=12), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(strings=texts, coded=st.lists(st.one_of(st.none(), st.sampled_from(["a", "é", "", "\0x"])), max_size=8),
       rows=st.lists(texts, max_size=5))
def test_string_coded_and_list_columns_round_trip(tmp_path, strings, coded, rows):
    """Any text (NUL, empty strings, non-ASCII, empty columns) reads back as written."""
    writer = ColumnWriter()
    writer.add_strings("s", strings)
    writer.add_coded("c", coded)
    writer.add_lists("l", rows)
    writer.add_array("n", list(range(len(strings))), "i4")
    writer.add_indexed_strings("i", strings)
    writer.add_lists("li", rows, indexed=True)
    writer.write(tmp_path / "x.columns", {"what": "test"})
    reader = ColumnReader(tmp_path / "x.columns")
    assert reader.meta == {"what": "test"}
    assert reader.strings("s", len(strings)) == strings
    assert reader.coded("c", len(coded)) == coded
    assert reader.lists("l", len(rows)) == [tuple(row) for row in rows]
    assert reader.array("n").tolist() == list(range(len(strings)))
    indexed = reader.indexed_strings("i", len(strings))
    assert list(indexed) == indexed.all() == indexed[:] == strings  # one at a time, in bulk, sliced
    assert [indexed[i] for i in range(-len(strings), 0)] == strings
    table, codes, bounds = reader.list_codes("li", len(rows), indexed=True)
    assert [tuple(table[c] for c in codes[low:high]) for low, high in zip(bounds, bounds[1:])] == \
        [tuple(row) for row in rows]
    packed = reader.packed_strings("s", len(strings))  # packed (or, with a NUL inside, a list)
    assert list(packed) == strings
    if strings:
        middle = len(strings) // 2
        assert indexed.span(middle, len(strings)) == strings[middle:] and indexed.span(middle, middle) == []
        if not isinstance(packed, list):
            assert packed.span(0, middle) == strings[:middle]
    with pytest.raises(ColumnFileError, match="rows"):
        reader.packed_strings("s", len(strings) + 1)


def test_an_indexed_string_that_is_not_utf8_is_a_column_error_when_read(tmp_path):
    """Indexed strings are decoded on access, so a corruption the manifest cannot see (same size
    and mtime) surfaces as a ColumnFileError there, naming the column, never as garbage text."""
    writer = ColumnWriter()
    writer.add_indexed_strings("i", ["good", "bad!"])
    path = tmp_path / "x.columns"
    writer.write(path, {})
    data = bytearray(path.read_bytes())
    data[data.find(b"bad!")] = 0xFF
    path.write_bytes(bytes(data))
    column = ColumnReader(path).indexed_strings("i", 2)
    assert column[0] == "good"
    with pytest.raises(ColumnFileError, match="'i' .* not valid UTF-8"):
        column[1]
    with pytest.raises(ColumnFileError, match="not valid UTF-8"):
        column.all()
    data[data.find(b"good") + 4] = ord("x")  # the NUL that ends a value
    path.write_bytes(bytes(data))
    with pytest.raises(ColumnFileError, match="inconsistent offsets"):
        ColumnReader(path).indexed_strings("i", 2)


def _written(tmp_path):
    writer = ColumnWriter()
    writer.add_strings("s", ["alpha", "beta", "gamma"])
    writer.add_coded("c", ["x", None, "y"])
    path = tmp_path / "x.columns"
    writer.write(path, {})
    return path


@pytest.mark.parametrize("cut", [3, 20, -1, -70])
def test_a_truncated_column_file_is_an_error(tmp_path, cut):
    path = _written(tmp_path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ColumnFileError):
        reader = ColumnReader(path)
        reader.strings("s", 3)


def test_bad_magic_wrong_row_counts_and_codes_outside_the_table_are_errors(tmp_path):
    path = _written(tmp_path)
    data = bytearray(path.read_bytes())
    (tmp_path / "magic.columns").write_bytes(b"NOTCOLS!" + data[8:])
    with pytest.raises(ColumnFileError, match="not a searchgym column file"):
        ColumnReader(tmp_path / "magic.columns")
    with pytest.raises(ColumnFileError, match="rows"):
        ColumnReader(path).strings("s", 4)
    codes = ColumnReader(path).array("c.codes")
    start = data.find(codes.tobytes())
    data[start:start + 4] = (7).to_bytes(4, "little", signed=True)  # code 7 of a 2-entry table
    path.write_bytes(bytes(data))
    with pytest.raises(ColumnFileError, match="outside its table"):
        ColumnReader(path).coded("c", 3)


def _with_dtype(path, column_pattern, dtype):
    """The file at ``path`` with the header's dtype of the first column matching the regex
    ``column_pattern`` replaced by ``dtype`` (same length: the data stays where it was)."""
    data = path.read_bytes()
    match = re.search(rb'\{"dtype":"([^"]+)","name":"' + column_pattern.encode() + b'"', data)
    assert match is not None and len(match.group(1)) == len(dtype)
    path.write_bytes(data[: match.start(1)] + dtype.encode() + data[match.end(1) :])


@pytest.mark.parametrize("column, dtype, read", [
    ("c\\.codes", "<f4", lambda reader: reader.coded("c", 3)),  # float codes would index a list
    ("s\\.joined", "|i1", lambda reader: reader.packed_strings("s", 3)),  # a blob that is no bytes
    ("s\\.joined", "<i2", lambda reader: reader.strings("s", None)),
])
def test_a_header_that_states_the_wrong_dtype_is_a_column_error(tmp_path, column, dtype, read):
    path = _written(tmp_path)
    _with_dtype(path, column, dtype)
    with pytest.raises(ColumnFileError, match="expected a 1-d"):
        read(ColumnReader(path))


def test_a_world_attribute_of_the_wrong_dtype_fails_the_load(tmp_path):
    """An int attribute whose header says float would load and answer 5e-324 for 1: refused."""
    entity = Entity("a", "city", "Arhus", (), {"population": 12})
    world = World(load_schema("default"), 20, 0, [entity], [])
    save_world_columns(world, tmp_path / "w.columns")
    _with_dtype(tmp_path / "w.columns", "attribute\\d+\\.values", "<f8")
    with pytest.raises(ColumnFileError, match="expected a 1-d"):
        load_world_columns(world.schema, tmp_path / "w.columns")


def test_world_columns_give_back_the_byte_identical_world(small_bundle, tmp_path):
    world = small_bundle.world
    save_world_columns(world, tmp_path / "world.columns")
    again = load_world_columns(world.schema, tmp_path / "world.columns")
    assert again.canonical_bytes() == world.canonical_bytes()
    assert again.content_hash == world.content_hash
    some = next(iter(world.entities))
    assert again.entity(some) == world.entity(some)
    assert again.entity(some).attributes == world.entity(some).attributes


def test_a_hand_built_world_with_every_literal_kind_round_trips(tmp_path):
    """Attributes of every literal type keep their type; an edge may name a node that is no
    entity (the lint tests build such worlds), and ids need not follow the generator's form."""
    entities = [
        Entity("a", "city", "Ärhus\0", ("A-town", ""), {"population": 12, "ratio": 0.5, "flag": True, "c": "x"}),
        Entity("b", "person", "Bo", (), {}, look_alike_of="Ärhus"),
    ]
    world = World(load_schema("default"), 20, 0, entities, [("b", "born_in", "a"), ("b", "born_in", "ghost")])
    save_world_columns(world, tmp_path / "w.columns")
    again = load_world_columns(world.schema, tmp_path / "w.columns")
    assert again.canonical_bytes() == world.canonical_bytes()
    attributes = again.entity("a").attributes
    assert [type(attributes[k]) for k in ("population", "ratio", "flag", "c")] == [int, float, bool, str]


def test_corpus_columns_give_back_the_same_passages_indexes_and_hashes(small_bundle, tmp_path):
    corpus = small_bundle.corpus
    corpus.save_columns(tmp_path / "passages.columns")
    again = Corpus.load_columns(tmp_path / "passages.columns", corpus.world_id)
    assert list(again.passages) == list(corpus.passages)
    assert again.to_jsonl() == corpus.to_jsonl()
    assert list(again.fact_index.items()) == list(corpus.fact_index.items())
    assert list(again.pages.items()) == list(corpus.pages.items())
    assert again.by_id == corpus.by_id
    with pytest.raises(ColumnFileError, match="not of"):
        Corpus.load_columns(tmp_path / "passages.columns", "another-world")


def test_one_save_pass_computes_the_one_hash_as_a_fresh_serialisation_would(small_bundle, tmp_path):
    fresh = Corpus(small_bundle.corpus.world_id, list(small_bundle.corpus.passages))
    fresh.save(tmp_path / "passages.jsonl")
    assert fresh.store._hash is not None  # the save computed it: no second pass
    lines = [stable_json(passage.to_dict()) for passage in fresh.passages]
    assert fresh.content_hash == content_hash_of(lines) == store_hash(list(fresh.passages))
    assert fresh.store_hash == fresh.content_hash == PassageStore(list(fresh.passages)).corpus_hash


def _bundle(cache):
    """A fresh load (or build) from ``cache``; the process memo is cleared before and after,
    so no later test gets this test's bundle from memory instead of from its own cache."""
    from searchgym.bundle import _MEMO, build_bundle
    from searchgym.tasks import TaskOptions

    _MEMO.clear()
    try:
        return build_bundle("default", 120, 9, task_options=TaskOptions(per_type=5), cache=cache)
    finally:
        _MEMO.clear()


@pytest.mark.parametrize("name", ["world.columns", "passages.columns"])
@pytest.mark.parametrize("manifest_agrees", [False, True])
def test_a_corrupted_bundle_column_file_is_rebuilt_with_a_warning(tmp_path, caplog, name, manifest_agrees):
    """Truncated: the manifest's size check catches it. Truncated *and* the manifest's size
    and mtime rewritten to match (so only reading the file can tell): the load fails, the
    entry is rebuilt, and a warning says so."""
    import json

    cache = ArtifactCache(tmp_path)
    first = _bundle(cache)
    entry = cache.entry_dir("bundles", first.key)
    path = entry / name
    path.write_bytes(path.read_bytes()[:-100])
    if manifest_agrees:
        manifest = json.loads((entry / MANIFEST_NAME).read_text())
        stat = path.stat()
        manifest["stat"][name] = [stat.st_size, stat.st_mtime_ns]
        (entry / MANIFEST_NAME).write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        again = _bundle(cache)
    assert again.world.canonical_bytes() == first.world.canonical_bytes()
    assert again.corpus.to_jsonl() == first.corpus.to_jsonl()
    assert [t.to_dict() for t in again.tasks] == [t.to_dict() for t in first.tasks]
    warning = "unreadable" if manifest_agrees else "corrupted"
    assert any(warning in record.getMessage() and "rebuilding" in record.getMessage() for record in caplog.records)
    assert os.path.getsize(entry / name) > 0 and _bundle(cache).corpus.to_jsonl() == first.corpus.to_jsonl()


def test_to_networkx_gives_a_fresh_graph_and_a_loaded_world_pickles(small_bundle, tmp_path):
    import pickle

    world = small_bundle.world
    graph = world.to_networkx()
    assert graph is not world.to_networkx()
    assert graph.number_of_nodes() == len(world.entities) and graph.number_of_edges() == len(world.edges)
    source, relation, target = world.edges[0]
    assert graph.has_edge(source, target, key=relation)
    save_world_columns(world, tmp_path / "world.columns")
    loaded = load_world_columns(world.schema, tmp_path / "world.columns")
    again = pickle.loads(pickle.dumps(loaded))
    assert again.canonical_bytes() == world.canonical_bytes()
    assert again.targets(source, relation) == world.targets(source, relation)
    assert again.sources(target, relation) == world.sources(target, relation)


_BUILD_ENTRY = """
import sys
from searchgym.bundle import build_bundle
from searchgym.tasks import TaskOptions
from searchgym.cache import ArtifactCache
from pathlib import Path
cache = ArtifactCache(Path(sys.argv[1]))
bundle = build_bundle("default", 150, 4, task_options=TaskOptions(per_type=4), cache=cache)
print(cache.entry_dir("bundles", bundle.key))
"""


@pytest.mark.slow
def test_bundle_column_files_are_byte_identical_across_hash_seeds(tmp_path):
    import hashlib
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    digests = []
    for seed in ("0", "977"):
        env = {**os.environ, "PYTHONHASHSEED": seed,
               "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        done = subprocess.run([sys.executable, "-c", _BUILD_ENTRY, str(tmp_path / f"cache-{seed}")], env=env,
                              capture_output=True, text=True, timeout=600, check=True)
        entry = Path(done.stdout.strip().splitlines()[-1])
        digests.append({path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                        for path in sorted(entry.iterdir()) if path.name != MANIFEST_NAME})
    assert {"world.columns", "passages.columns", "passages.jsonl", "tasks.jsonl"} <= set(digests[0])
    assert digests[0] == digests[1]
