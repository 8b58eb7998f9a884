"""Parsed schemas kept on disk, so a fresh process does not parse and check the wording again.

Why: parsing the default schema's wording TOML (pure-Python ``tomllib``) and checking every
template's slots takes 0.2-0.7 s, and every process that loads a cached bundle (each vector-env
worker, Ray actor or restarted trainer) paid it, a fifth of a 100k-entity cache hit. The parsed
:class:`~searchgym.world.schema.Schema` is stored as JSON of its dataclass fields and read back
in milliseconds.

Safe by construction (searchgym never unpickles files): the JSON names only dataclasses of
``searchgym.world``, which are rebuilt field by field, with every field required; anything else
in a file is an error, and the schema is parsed instead. The entry is keyed by the schema,
wording and deep-wording texts *and* the source of the modules that parse them, so a change to
the parser never meets a schema parsed by the old one. Where the cache cannot be written, the
schema is simply parsed.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchgym.atomic_io import atomic_write_text
from searchgym.cache import ArtifactCache, CacheError
from searchgym.hashing import content_hash

if TYPE_CHECKING:
    from searchgym.world.schema import Schema

logger = logging.getLogger(__name__)

SCHEMA_CACHE_VERSION = 1
_NAMESPACE = "schemas"
_FILE = "schema.json"
_PACKAGE = Path(__file__).resolve().parents[1]
_PARSER_SOURCES = ("world/*.py", "corpus/style.py", "resources.py")
"""What parsing a schema runs: its result is cached only for this exact code."""
_CLASS_PREFIX = "searchgym.world."


class SchemaCacheError(ValueError):
    """A cached schema file does not decode to the dataclasses it must hold."""


def cached_schema(texts: Sequence[str], parse: Callable[[], Schema]) -> Schema:
    """The schema ``parse()`` gives for these source ``texts``, from the cache when it holds it."""
    try:
        cache = ArtifactCache()
    except CacheError:
        return parse()
    key = content_hash(f"schema-cache-v{SCHEMA_CACHE_VERSION}", *texts, *_parser_sources())
    parsed: list[Schema] = []

    def build(directory: Path) -> dict[str, Any]:
        schema = parse()
        parsed.append(schema)
        atomic_write_text(directory / _FILE, json.dumps(encode(schema), ensure_ascii=False, separators=(",", ":")))
        return {}

    try:
        directory = cache.get_or_build(_NAMESPACE, key, build)
    except (CacheError, OSError, TypeError) as error:  # TypeError: a value the codec does not know
        logger.debug("schema cache unavailable (%s); parsing", error)
        return parsed[0] if parsed else parse()
    if parsed:
        return parsed[0]
    try:
        return decode(json.loads((directory / _FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError) as error:
        logger.warning("schema cache entry %s is unreadable (%s); parsing the schema", directory, error)
        shutil.rmtree(directory, ignore_errors=True)  # the next load writes a good one
        return parse()


@functools.lru_cache(maxsize=1)
def _parser_sources() -> tuple[bytes, ...]:
    """The parser's source files, read once per process (the code that runs cannot change)."""
    return tuple(path.read_bytes() for pattern in _PARSER_SOURCES for path in sorted(_PACKAGE.glob(pattern)))


def encode(value: Any) -> Any:
    """``value`` as JSON: dataclasses of ``searchgym.world`` by class and fields, tuples and
    dicts tagged (dict keys may be any encodable value). Raises ``TypeError`` on anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {"t": [encode(item) for item in value]}
    if isinstance(value, dict):
        return {"d": [[encode(key), encode(item)] for key, item in value.items()]}
    cls = type(value)
    if dataclasses.is_dataclass(value) and cls.__module__.startswith(_CLASS_PREFIX):
        return {
            "c": f"{cls.__module__}:{cls.__qualname__}",
            "f": {field.name: encode(getattr(value, field.name)) for field in dataclasses.fields(value)},
        }
    raise TypeError(f"the schema cache cannot store a {cls.__module__}.{cls.__qualname__}")


def decode(data: Any) -> Any:
    """The value :func:`encode` wrote; raises :class:`SchemaCacheError` on anything it did not."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise SchemaCacheError(f"unexpected value {str(data)[:60]!r}")
    if "t" in data and len(data) == 1 and isinstance(data["t"], list):
        return tuple(decode(item) for item in data["t"])
    if "d" in data and len(data) == 1 and isinstance(data["d"], list):
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in data["d"]):
            raise SchemaCacheError("a malformed dict entry")
        return {decode(key): decode(item) for key, item in data["d"]}
    if set(data) == {"c", "f"} and isinstance(data["c"], str) and isinstance(data["f"], dict):
        return _instance(data["c"], data["f"])
    raise SchemaCacheError(f"unexpected value {str(data)[:60]!r}")


def _instance(name: str, fields: dict[str, Any]) -> Any:
    """An instance of dataclass ``name`` (``module:qualname`` in ``searchgym.world``), its
    fields set directly: they were checked when the schema was parsed."""
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith(_CLASS_PREFIX) or not qualname.isidentifier():
        raise SchemaCacheError(f"class {name!r} is not a searchgym.world dataclass")
    try:
        cls = getattr(importlib.import_module(module_name), qualname)
    except (ImportError, AttributeError):
        raise SchemaCacheError(f"no class {name!r}") from None
    if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        raise SchemaCacheError(f"{name!r} is not a dataclass")
    names = {field.name for field in dataclasses.fields(cls)}
    if set(fields) != names:
        raise SchemaCacheError(f"{name!r} has fields {sorted(names)}, the file {sorted(fields)}")
    instance = object.__new__(cls)
    for field_name, value in fields.items():
        object.__setattr__(instance, field_name, decode(value))
    return instance
