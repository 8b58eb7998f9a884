"""A world as a column file: what a bundle cache hit reads instead of the canonical JSON.

Why: parsing a 100k-entity world back from its 30 MB canonical JSON took 16 s (one dict per
entity, one list per edge, then a sort). Here (:mod:`searchgym.columns`) entity ids and names
are UTF-8 blobs with offsets, types and relations are int32 codes into small tables, aliases
are CSR rows, every attribute is a typed column (int64, float64, coded strings, bools) holding
the rows of the entities that have it, and the edges are three int32 columns (source, relation,
target) stored in the world's sorted order, so loading needs neither a parse nor a sort.

The canonical JSON (:meth:`World.canonical_bytes`) stays the determinism contract and what
:attr:`World.content_hash` digests; the column file round-trips it byte for byte (tested).
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from searchgym.columns import ColumnFileError, ColumnReader, ColumnWriter
from searchgym.types import Literal, filled
from searchgym.world.world import Entity

if TYPE_CHECKING:
    from searchgym.world.schema import Schema
    from searchgym.world.world import World

WORLD_COLUMNS_VERSION = 1
_KIND = "searchgym-world"
_VALUE_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


def save_world_columns(world: World, path: Path) -> None:
    """Write ``world`` as a column file at ``path`` (atomically)."""
    entities: list[Entity] = list(world.entities.values())
    columns = ColumnWriter()
    columns.add_strings("entity.id", [e.id for e in entities])
    columns.add_coded("entity.type", [e.type for e in entities])
    columns.add_strings("entity.name", [e.name for e in entities])
    columns.add_lists("entity.aliases", [e.aliases for e in entities])
    columns.add_coded("entity.look_alike_of", [e.look_alike_of for e in entities])
    attributes: dict[tuple[str, str], tuple[list[int], list[Literal]]] = defaultdict(lambda: ([], []))
    for row, entity in enumerate(entities):
        for name, value in entity.attributes.items():
            kind = _VALUE_KINDS.get(type(value))
            if kind is None:
                raise TypeError(f"attribute {name!r} of {entity.id} is a {type(value).__name__}, not a literal")
            rows, values = attributes[(name, kind)]
            rows.append(row)
            values.append(value)
    layout = sorted(attributes)  # loading fills each entity's attributes in this (name) order
    for index, key in enumerate(layout):
        rows, values = attributes[key]
        columns.add_array(f"attribute{index}.rows", rows, "i4")
        if key[1] == "str":
            columns.add_coded(f"attribute{index}.values", values)  # type: ignore[arg-type]
        else:
            columns.add_array(f"attribute{index}.values", values, {"bool": "u1", "int": "i8", "float": "f8"}[key[1]])
    nodes = {e.id: row for row, e in enumerate(entities)}
    endpoints = [nodes.setdefault(node, len(nodes)) for s, _, t in world.edges for node in (s, t)]
    columns.add_strings("node.extra", list(nodes)[len(entities) :])  # edge endpoints that are no entity
    columns.add_array("edge.source", endpoints[0::2], "i4")
    columns.add_coded("edge.relation", [r for _, r, _ in world.edges])
    columns.add_array("edge.target", endpoints[1::2], "i4")
    columns.write(
        path,
        {
            "kind": _KIND,
            "version": WORLD_COLUMNS_VERSION,
            "world_id": world.world_id,
            "size": world.size,
            "seed": world.seed,
            "entities": len(entities),
            "edges": len(world.edges),
            "attributes": [list(key) for key in layout],
        },
    )


def load_world_columns(schema: Schema, path: Path) -> World:
    """Read a world saved with :func:`save_world_columns` for ``schema``; raises
    :class:`ColumnFileError` when the file is truncated, corrupted or of another world.

    Lazy: the entities are an :class:`EntityTable` (an :class:`Entity` is made when it is
    looked up, all of them at once when they are iterated) and the edge list is made on first
    use; what is read here is checked (row and node numbers, codes), so a file that reads here
    makes whole entities and edges later. That was 2.2 s of a 100k-entity cache hit.
    """
    from searchgym.world.world import World

    reader = ColumnReader(path)
    meta = reader.expect(_KIND, WORLD_COLUMNS_VERSION)
    count, edge_count = int(meta["entities"]), int(meta["edges"])
    table = EntityTable(reader, meta, count, path)
    nodes_extra = reader.strings("node.extra")
    sources, targets = reader.array("edge.source", edge_count), reader.array("edge.target", edge_count)
    node_count = count + len(nodes_extra)
    if edge_count and (
        min(int(sources.min()), int(targets.min())) < 0 or max(int(sources.max()), int(targets.max())) >= node_count
    ):
        raise ColumnFileError(f"{path} has edges between unknown nodes")
    relation_table, relation_codes = reader.codes("edge.relation", edge_count)
    if edge_count and int(relation_codes.min()) < 0:
        raise ColumnFileError(f"{path} has an edge without a relation")

    edges = partial(_edges, table.ids + nodes_extra, sources, relation_table, relation_codes, targets, path)
    world = World.from_parts(schema, int(meta["size"]), int(meta["seed"]), table, edges, table.by_type)
    if world.world_id != meta.get("world_id"):
        raise ColumnFileError(
            f"{path} holds world {meta.get('world_id')!r}, not one of schema {schema.name} ({world.world_id})"
        )
    return world


def _edges(
    nodes: list[str],
    sources: np.ndarray,
    relation_table: Sequence[str],
    relation_codes: np.ndarray,
    targets: np.ndarray,
    path: Path,
) -> list[tuple[str, str, str]]:
    """The world's sorted edge list from its columns (checked to be in the world's order)."""
    relations = map(relation_table.__getitem__, relation_codes.tolist())
    made = list(zip(map(nodes.__getitem__, sources.tolist()), relations, map(nodes.__getitem__, targets.tolist())))
    if not _strictly_increasing(made):
        raise ColumnFileError(f"{path} has edges out of the world's order")
    return made


def _strictly_increasing(edges: list[tuple[str, str, str]]) -> bool:
    """Whether ``edges`` is strictly increasing (sorted, no duplicate): the world's invariant."""
    return all(map(operator.lt, edges, edges[1:]))


def _entity(
    entity_id: str,
    type_name: str,
    name: str,
    aliases: tuple[str, ...],
    attributes: dict[str, Literal],
    look_alike_of: str | None,
) -> Entity:
    """An :class:`Entity` from the world file's fields (:func:`searchgym.types.filled`)."""
    return filled(
        Entity,
        id=entity_id,
        type=type_name,
        name=name,
        aliases=aliases,
        attributes=attributes,
        look_alike_of=look_alike_of,
    )


class EntityTable(Mapping[str, "Entity"]):
    """A loaded world's ``entities``: id -> :class:`Entity`, made from the columns on demand.

    A look-up makes one entity (its attributes found by binary search in each attribute
    column, whose rows are in entity order); iterating values or items makes every entity in
    one bulk pass, as the eager loader did. Made entities are kept. Keys iterate in world order.
    """

    def __init__(self, reader: ColumnReader, meta: dict[str, Any], count: int, path: Path) -> None:
        self.ids: list[str] = reader.strings("entity.id", count)
        self._rows = dict(zip(self.ids, range(count)))
        if len(self._rows) != count:
            raise ColumnFileError(f"{path} has duplicate entity ids")
        type_table, type_codes = reader.codes("entity.type", count)
        if count and int(type_codes.min()) < 0:
            raise ColumnFileError(f"{path} has an entity without a type")
        self._types, self._type_codes = list(type_table), type_codes
        self._names = reader.strings("entity.name", count)
        alias_table, self._alias_codes, alias_bounds = reader.list_codes("entity.aliases", count)
        self._alias_table, self._alias_bounds = list(alias_table), alias_bounds.tolist()
        look_table, look_codes = reader.codes("entity.look_alike_of", count)
        self._look_alikes, self._look_codes = [*look_table, None], look_codes.tolist()
        self._attributes: list[tuple[str, str, np.ndarray, Any]] = []
        for index, (name, kind) in enumerate(meta["attributes"]):
            rows = reader.array(f"attribute{index}.rows")
            if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= count or np.any(rows[1:] <= rows[:-1])):
                raise ColumnFileError(f"{path}: attribute {name!r} names rows outside the world or out of order")
            values: Any = (
                reader.coded(f"attribute{index}.values", len(rows))
                if kind == "str"
                else reader.array(f"attribute{index}.values", len(rows))
            )
            self._attributes.append((name, kind, rows, values))
        self._made: list[Entity | None] = [None] * count
        self._complete = False

    # -- Mapping ----------------------------------------------------------------------------
    def __getitem__(self, entity_id: str) -> Entity:
        row = self._rows[entity_id]
        made = self._made[row]
        if made is None:
            made = self._made[row] = self._make(row, self._attributes_of(row))
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, entity_id: object) -> bool:
        try:
            return entity_id in self._rows
        except TypeError:
            return False

    def values(self) -> list[Entity]:  # type: ignore[override]
        return list(self._all())  # a copy: the table's own list is never handed out

    def items(self) -> list[tuple[str, Entity]]:  # type: ignore[override]
        return list(zip(self.ids, self._all()))

    def by_type(self) -> dict[str, list[str]]:
        """type -> entity ids in world order, from the type codes (no entity is made)."""
        grouped: dict[str, list[str]] = defaultdict(list)
        ids = self.ids
        for code in dict.fromkeys(self._type_codes.tolist()):  # types in order of first entity
            grouped[self._types[code]] = list(map(ids.__getitem__, np.flatnonzero(self._type_codes == code).tolist()))
        return grouped

    # -- making entities ----------------------------------------------------------------------
    def _make(self, row: int, attributes: dict[str, Literal]) -> Entity:
        low, high = self._alias_bounds[row], self._alias_bounds[row + 1]
        aliases = tuple(map(self._alias_table.__getitem__, self._alias_codes[low:high].tolist()))
        return _entity(
            self.ids[row],
            self._types[self._type_codes[row]],
            self._names[row],
            aliases,
            attributes,
            self._look_alikes[self._look_codes[row]],
        )

    def _attributes_of(self, row: int) -> dict[str, Literal]:
        found: dict[str, Literal] = {}
        for name, kind, rows, values in self._attributes:
            position = int(np.searchsorted(rows, row))
            if position < len(rows) and rows[position] == row:
                found[name] = _literal(values[position], kind)
        return found

    def _all(self) -> list[Entity]:
        if not self._complete:
            attributes: list[dict[str, Literal]] = [{} for _ in self.ids]
            for name, kind, rows, values in self._attributes:
                decoded = values if kind == "str" else values.tolist()
                if kind == "bool":
                    decoded = [bool(value) for value in decoded]
                for row, value in zip(rows.tolist(), decoded):
                    attributes[row][name] = value
            made = self._made
            for row, entity in enumerate(made):
                if entity is None:
                    made[row] = self._make(row, attributes[row])
            self._complete = True
        return self._made  # type: ignore[return-value]


def _literal(value: Any, kind: str) -> Literal:
    if kind == "str":
        return value
    value = value.item()
    return bool(value) if kind == "bool" else value
