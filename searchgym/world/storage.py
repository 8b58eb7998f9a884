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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchgym.columns import ColumnFileError, ColumnReader, ColumnWriter
from searchgym.types import Literal

if TYPE_CHECKING:
    from searchgym.world.schema import Schema
    from searchgym.world.world import World

WORLD_COLUMNS_VERSION = 1
_KIND = "searchgym-world"
_VALUE_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


def save_world_columns(world: World, path: Path) -> None:
    """Write ``world`` as a column file at ``path`` (atomically)."""
    from searchgym.world.world import Entity

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
    columns.add_strings("node.extra", list(nodes)[len(entities):])  # edge endpoints that are no entity
    columns.add_array("edge.source", endpoints[0::2], "i4")
    columns.add_coded("edge.relation", [r for _, r, _ in world.edges])
    columns.add_array("edge.target", endpoints[1::2], "i4")
    columns.write(path, {"kind": _KIND, "version": WORLD_COLUMNS_VERSION, "world_id": world.world_id,
                         "size": world.size, "seed": world.seed, "entities": len(entities),
                         "edges": len(world.edges), "attributes": [list(key) for key in layout]})


def load_world_columns(schema: Schema, path: Path) -> World:
    """Read a world saved with :func:`save_world_columns` for ``schema``; raises
    :class:`ColumnFileError` when the file is truncated, corrupted or of another world."""
    from searchgym.world.world import Entity, World

    reader = ColumnReader(path)
    meta = reader.expect(_KIND, WORLD_COLUMNS_VERSION)
    count, edge_count = int(meta["entities"]), int(meta["edges"])
    ids = reader.strings("entity.id", count)
    types = reader.coded("entity.type", count)
    if None in types:
        raise ColumnFileError(f"{path} has an entity without a type")
    attributes: list[dict[str, Literal]] = [{} for _ in range(count)]
    for index, (name, kind) in enumerate(meta["attributes"]):
        rows = reader.array(f"attribute{index}.rows")
        if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= count):
            raise ColumnFileError(f"{path}: attribute {name!r} names rows outside the world")
        values: list[Any] = (reader.coded(f"attribute{index}.values", len(rows)) if kind == "str"
                             else reader.array(f"attribute{index}.values", len(rows)).tolist())
        if kind == "bool":
            values = [bool(value) for value in values]
        for row, value in zip(rows.tolist(), values):
            attributes[row][name] = value
    entities = list(map(Entity, ids, types, reader.strings("entity.name", count),
                        reader.lists("entity.aliases", count), attributes,
                        reader.coded("entity.look_alike_of", count)))
    nodes = ids + reader.strings("node.extra")
    sources, targets = reader.array("edge.source", edge_count), reader.array("edge.target", edge_count)
    if edge_count and (min(int(sources.min()), int(targets.min())) < 0
                       or max(int(sources.max()), int(targets.max())) >= len(nodes)):
        raise ColumnFileError(f"{path} has edges between unknown nodes")
    relation_table, relation_codes = reader.codes("edge.relation", edge_count)
    if edge_count and int(relation_codes.min()) < 0:
        raise ColumnFileError(f"{path} has an edge without a relation")
    edges = list(zip(map(nodes.__getitem__, sources.tolist()), map(relation_table.__getitem__, relation_codes.tolist()),
                     map(nodes.__getitem__, targets.tolist())))
    if not _strictly_increasing(edges):
        raise ColumnFileError(f"{path} has edges out of the world's order")
    world = World(schema, int(meta["size"]), int(meta["seed"]), entities, edges, edges_sorted=True)
    if world.world_id != meta.get("world_id"):
        raise ColumnFileError(f"{path} holds world {meta.get('world_id')!r}, not one of schema "
                              f"{schema.name} ({world.world_id})")
    return world


def _strictly_increasing(edges: list[tuple[str, str, str]]) -> bool:
    """Whether ``edges`` is strictly increasing (sorted, no duplicate): the world's invariant."""
    return all(map(operator.lt, edges, edges[1:]))
