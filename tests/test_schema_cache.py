"""Parsed schemas cached on disk (issue 18 item 4): a fresh process reads the parsed schema
instead of parsing and checking the wording TOML again, gets an equal schema (and so
byte-identical worlds), and a cache file naming anything but searchgym's schema dataclasses is
refused and the schema parsed instead (nothing is unpickled)."""

from __future__ import annotations

import json
import logging

import pytest

from searchgym.world import build_world, load_schema, schema_cache
from searchgym.world.schema import Schema


def _entry(cache_dir):
    entries = list((cache_dir / "schemas").iterdir())
    assert len(entries) == 1
    return entries[0] / "schema.json"


def _agree(path):
    from searchgym.cache import MANIFEST_NAME, file_sha256

    manifest_path = path.parent / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    stat = path.stat()
    manifest["files"][path.name] = file_sha256(path)
    manifest["stat"][path.name] = [stat.st_size, stat.st_mtime_ns]
    manifest_path.write_text(json.dumps(manifest))


def test_a_cached_schema_equals_the_parsed_one_and_builds_the_same_world(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(tmp_path))
    parsed = load_schema("default")  # parses, and writes the entry
    calls = []
    monkeypatch.setattr("searchgym.world.schema.parse_schema",
                        lambda *args, **kwargs: calls.append(1) or pytest.fail("parsed again"))
    cached = load_schema("default")
    assert calls == [] and cached is not parsed
    assert isinstance(cached, Schema) and cached == parsed
    assert cached.wording == parsed.wording and cached.wording.deep == parsed.wording.deep
    assert build_world(cached, 60, 5).canonical_bytes() == build_world(parsed, 60, 5).canonical_bytes()


@pytest.mark.parametrize("tamper", ["os:system", "builtins:eval", "searchgym.world.schema_loading:load_schema",
                                    "searchgym.cache:ArtifactCache"])
def test_a_file_naming_another_class_is_refused_and_the_schema_parsed(tmp_path, monkeypatch, caplog, tamper):
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(tmp_path))
    parsed = load_schema("default")
    path = _entry(tmp_path)
    data = json.loads(path.read_text())
    data["c"] = tamper
    path.write_text(json.dumps(data))
    _agree(path)  # the manifest vouches for the file: only decoding it can tell
    with caplog.at_level(logging.WARNING):
        again = load_schema("default")
    assert again == parsed
    assert any("unreadable" in record.getMessage() for record in caplog.records)


def test_fields_must_match_and_unknown_values_are_not_stored():
    with pytest.raises(schema_cache.SchemaCacheError, match="fields"):
        schema_cache.decode({"c": "searchgym.world.schema:GapConstraint", "f": {"bogus": 1}})
    with pytest.raises(schema_cache.SchemaCacheError):
        schema_cache.decode({"x": 1})
    with pytest.raises(TypeError, match="cannot store"):
        schema_cache.encode({1, 2})
    value = {"a": (1, "b", None), 2: [True, 1.5]}
    assert schema_cache.decode(json.loads(json.dumps(schema_cache.encode(value)))) == value
