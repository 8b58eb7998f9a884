"""Finding and loading a schema: a bundled name or a TOML path, its wording file beside it, the
optional deep-research wording, and the parsed-schema cache in front of parsing.

Parsing itself (:func:`searchgym.world.schema.parse_schema`) takes texts and knows no files; this
module is what knows where the files of a schema live.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

from searchgym.resources import data_path
from searchgym.world.schema import Schema, SchemaError, parse_schema
from searchgym.world.wording import WordingError

__all__ = ["load_schema"]


def load_schema(name_or_path: str | Path) -> Schema:
    """Load a schema by bundled name (``"default"``) or by path to a TOML file.

    Its wording file is the schema's ``wording`` key (a path relative to the schema file), or
    ``<stem>.wording.toml`` beside it; a schema without wording cannot be written as a corpus.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = data_path("corpora") / "schemas" / f"{name_or_path}.toml"
    if not path.is_file():
        bundled = sorted(
            p.stem for p in (data_path("corpora") / "schemas").glob("*.toml") if not p.stem.endswith(".wording")
        )
        raise SchemaError(f"no schema file {str(name_or_path)!r}; bundled schemas: {bundled}")
    text = path.read_text(encoding="utf-8")
    try:
        declared = tomllib.loads(text).get("wording")
    except tomllib.TOMLDecodeError as error:
        raise SchemaError(f"{path}: not valid TOML: {error}") from error
    wording_path = path.parent / (declared if isinstance(declared, str) else f"{path.stem}.wording.toml")
    if not wording_path.is_file():
        raise SchemaError(
            f"{path}: its wording file {wording_path} is missing (every schema needs one: "
            f"see corpora/schemas/default.wording.toml)"
        )
    wording_text = wording_path.read_text(encoding="utf-8")
    deep_path = wording_path.with_name(wording_path.name.replace(".wording.toml", "") + ".deep.wording.toml")
    deep_text = deep_path.read_text(encoding="utf-8") if deep_path.is_file() else ""

    def parse() -> Schema:
        schema = parse_schema(text, origin=str(path), wording_text=wording_text)
        return _with_deep_wording(schema, deep_path)

    from searchgym.world.schema_cache import cached_schema

    return cached_schema([str(path), text, wording_text, deep_text], parse)


def _with_deep_wording(schema: Schema, path: Path) -> Schema:
    """Attach the optional deep-research wording beside the wording file (``<stem>.deep.wording.toml``).

    It is kept out of ``source_text`` (hence out of the world id), so adding it leaves the
    classic specs' worlds, corpora and tasks unchanged; tasks that use it hash it themselves."""
    if not path.is_file() or schema.wording is None:
        return schema
    from searchgym.world.deep_wording import parse_deep_wording

    try:
        deep = parse_deep_wording(path.read_text(encoding="utf-8"), schema, origin=str(path))
    except WordingError as error:
        raise SchemaError(str(error)) from None
    return replace(schema, wording=replace(schema.wording, deep=deep))
