"""A loaded world's entities as arrays: what keeps a million-entity world in ~150 B per entity.

Why: a world read back from its column file served its entities from Python lists and a
dict (ids, names, a row per id, every attribute value as an object), 721 B per entity at
100k entities, ~3.6x the column file itself. Here every field stays in the file's arrays:
ids, names and the string tables (aliases, look-alikes, string attributes) are packed UTF-8
decoded on access (:meth:`~searchgym.columns.ColumnReader.packed_strings`), types and codes
are int32 arrays, attributes are the file's typed columns, and "which row holds this id" is a
sorted array of the ids' hashes (12 B per entity, :class:`IdIndex`) instead of a dict (~100 B
per entity plus a string object per key). An :class:`Entity` is made when it is looked up
(kept, so a second look-up is a dict hit) or, without being kept, when the table is iterated.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView
from pathlib import Path
from typing import Any

import numpy as np

from searchgym.columns import ColumnFileError, ColumnReader, IndexedStrings, string_span
from searchgym.types import Literal, filled
from searchgym.world.world import Entity

#: The column dtype of each non-string attribute kind (what the writer stores, the reader checks).
ATTRIBUTE_DTYPES: dict[str, str] = {"bool": "u1", "int": "i8", "float": "f8"}

_CHUNK = 4096
"""Rows made per pass when the table is iterated (attribute slices are cut once per chunk)."""

_SMALL_TABLE = 1 << 16
"""A string table up to this many entries is decoded into a list once (a bounded cost, not
one per entity: a type's occupations, a schema's colours); a larger one (aliases, look-alike
targets, values unique per entity) stays packed."""


def _small_decoded(table: Sequence[str]) -> Sequence[str]:
    return table.all() if isinstance(table, IndexedStrings) and len(table) <= _SMALL_TABLE else table


class IdIndex:
    """Row of a string id by binary search over the ids' hashes (sorted), checked against the id.

    Python's ``hash`` of a string is salted per process, so the index is never pickled: an
    unpickled table builds it again on first use (:meth:`EntityTable.__getstate__`).
    """

    __slots__ = ("_ids", "_hashes", "_rows")

    def __init__(self, ids: Sequence[str]) -> None:
        values = string_span(ids, 0, len(ids))
        hashes = np.fromiter(map(hash, values), dtype=np.int64, count=len(values))
        order = np.argsort(hashes, kind="stable")
        self._ids, self._hashes, self._rows = ids, hashes[order], order.astype(np.int32)
        same = np.flatnonzero(self._hashes[1:] == self._hashes[:-1])
        for hashed in np.unique(self._hashes[same]).tolist():  # equal hashes: equal ids, or a collision
            low = int(np.searchsorted(self._hashes, hashed, side="left"))
            high = int(np.searchsorted(self._hashes, hashed, side="right"))
            run = [values[row] for row in self._rows[low:high].tolist()]
            if len(set(run)) < len(run):
                raise ValueError(f"duplicate id {max(run, key=run.count)!r}")

    def row(self, key: object) -> int | None:
        """The row of ``key``, or None when no id equals it (any object: unhashable ones too)."""
        if not isinstance(key, str):
            return None
        hashed = hash(key)
        position = int(np.searchsorted(self._hashes, hashed))
        while position < len(self._hashes) and self._hashes[position] == hashed:
            row = int(self._rows[position])
            if self._ids[row] == key:
                return row
            position += 1
        return None


class EntityTable(Mapping[str, Entity]):
    """A loaded world's ``entities``: id -> :class:`Entity`, made from the columns on demand.

    A look-up makes one entity (its attributes found by binary search in each attribute
    column, whose rows are in entity order) and keeps it; iterating keys, values or items
    walks the rows in world order, making entities a chunk at a time without keeping them.
    """

    def __init__(self, reader: ColumnReader, meta: dict[str, Any], count: int, path: Path) -> None:
        self.ids: Sequence[str] = reader.packed_strings("entity.id", count)
        try:
            self._index: IdIndex | None = IdIndex(self.ids)
        except ValueError as error:
            raise ColumnFileError(f"{path} has duplicate entity ids ({error})") from None
        type_table, type_codes = reader.codes("entity.type", count)
        if count and int(type_codes.min()) < 0:
            raise ColumnFileError(f"{path} has an entity without a type")
        self._types, self.type_codes = list(type_table), type_codes
        self._names = reader.packed_strings("entity.name", count)
        alias_table, self._alias_codes, self._alias_bounds = reader.list_codes("entity.aliases", count, packed=True)
        look_table, self._look_codes = reader.codes("entity.look_alike_of", count, packed=True)
        self._alias_table, self._look_table = _small_decoded(alias_table), _small_decoded(look_table)
        self._attributes: list[tuple[str, str, np.ndarray, Any]] = []
        for index, (name, kind) in enumerate(meta["attributes"]):
            rows = reader.array(f"attribute{index}.rows")
            if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= count or np.any(rows[1:] <= rows[:-1])):
                raise ColumnFileError(f"{path}: attribute {name!r} names rows outside the world or out of order")
            if kind == "str":
                table, codes = reader.codes(f"attribute{index}.values", len(rows), packed=True)
                if len(codes) and int(codes.min()) < 0:
                    raise ColumnFileError(f"{path}: attribute {name!r} has a missing value")
                values: Any = (_small_decoded(table), codes)
            elif kind in ATTRIBUTE_DTYPES:
                values = reader.array(f"attribute{index}.values", len(rows), dtype=ATTRIBUTE_DTYPES[kind])
            else:
                raise ColumnFileError(f"{path}: attribute {name!r} has an unknown kind {kind!r}")
            self._attributes.append((name, kind, rows, values))
        self._made: dict[int, Entity] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None}  # hashes are per process: rebuilt on first use

    def row(self, entity_id: object) -> int | None:
        """The row of ``entity_id`` in world order, or None when it names no entity."""
        if self._index is None:
            self._index = IdIndex(self.ids)
        return self._index.row(entity_id)

    # -- Mapping ----------------------------------------------------------------------------
    def __getitem__(self, entity_id: str) -> Entity:
        row = self.row(entity_id)
        if row is None:
            raise KeyError(entity_id)
        made = self._made.get(row)
        if made is None:
            made = self._made[row] = self._entities(row, row + 1)[0]
        return made

    def __iter__(self) -> Iterator[str]:
        ids = self.ids
        for low in range(0, len(ids), _CHUNK):  # a chunk of ids decoded at a time
            yield from string_span(ids, low, min(low + _CHUNK, len(ids)))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, entity_id: object) -> bool:
        return self.row(entity_id) is not None

    def values(self) -> ValuesView[Entity]:
        return _Values(self)

    def items(self) -> ItemsView[str, Entity]:
        return _Items(self)

    def name_of(self, entity_id: str) -> str:
        """The name of ``entity_id`` read from the name column (no :class:`Entity` is made:
        making one looks up every attribute column, ~50 µs)."""
        row = self.row(entity_id)
        if row is None:
            raise KeyError(entity_id)
        return self._names[row]

    def by_type(self) -> dict[str, list[str]]:
        """type -> entity ids in world order, from the type codes (no entity is made)."""
        grouped: dict[str, list[str]] = {}
        ids = self.ids
        for code in dict.fromkeys(self.type_codes.tolist()):  # types in order of first entity
            grouped[self._types[code]] = [ids[row] for row in np.flatnonzero(self.type_codes == code).tolist()]
        return grouped

    # -- making entities ----------------------------------------------------------------------
    def iter_entities(self) -> Iterator[Entity]:
        """Every entity in world order, made a chunk at a time (kept ones reused, none kept)."""
        for low in range(0, len(self), _CHUNK):
            yield from self._entities(low, min(low + _CHUNK, len(self)))

    def _entities(self, low: int, high: int) -> list[Entity]:
        """Entities of rows ``low:high`` (kept ones reused): each field's slice is decoded in
        one pass, each attribute column's rows found by one binary search (rows are sorted)."""
        attributes: list[dict[str, Literal]] = [{} for _ in range(low, high)]
        for name, kind, rows, values in self._attributes:
            first, last = np.searchsorted(rows, [low, high]).tolist()
            for row, value in zip(rows[first:last].tolist(), _decoded(kind, values, first, last)):
                attributes[row - low][name] = value
        bounds = self._alias_bounds[low : high + 1].tolist()
        alias_table = self._alias_table
        aliases = [alias_table[code] for code in self._alias_codes[bounds[0] : bounds[-1]].tolist()]
        types = [self._types[code] for code in self.type_codes[low:high].tolist()]
        looks = [None if code < 0 else self._look_table[code] for code in self._look_codes[low:high].tolist()]
        names = string_span(self._names, low, high)
        made = self._made
        return [
            made.get(low + offset)
            or filled(
                Entity,
                id=entity_id,
                type=types[offset],
                name=names[offset],
                aliases=tuple(aliases[bounds[offset] - bounds[0] : bounds[offset + 1] - bounds[0]]),
                attributes=attributes[offset],
                look_alike_of=looks[offset],
            )
            for offset, entity_id in enumerate(string_span(self.ids, low, high))
        ]


def _decoded(kind: str, values: Any, first: int, last: int) -> list[Literal]:
    """Attribute values ``first:last`` of one column as Python literals."""
    if kind == "str":
        table, codes = values
        return [table[code] for code in codes[first:last].tolist()]
    decoded = values[first:last].tolist()
    return [bool(value) for value in decoded] if kind == "bool" else decoded


class _Values(ValuesView[Entity]):
    _mapping: EntityTable

    def __iter__(self) -> Iterator[Entity]:
        return self._mapping.iter_entities()


class _Items(ItemsView[str, Entity]):
    _mapping: EntityTable

    def __iter__(self) -> Iterator[tuple[str, Entity]]:
        for entity in self._mapping.iter_entities():
            yield entity.id, entity
