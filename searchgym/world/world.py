"""The World: a fictional knowledge graph plus the indexes every later stage reads.

:meth:`World.to_networkx` gives the world as a ``networkx.MultiDiGraph`` (nodes are entity
ids, edge keys are relation names), so users can run any networkx algorithm on it. Corpus
writing and task generation need fast "targets of X under r" and "sources of Y under r"
look-ups, which are built here once, on first use. On disk a world is a column file
(:mod:`searchgym.world.storage`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from searchgym.cache import content_hash, stable_json
from searchgym.types import Fact, Literal
from searchgym.world.links import ArrayLinks, DictLinks
from searchgym.world.names import normalize_name
from searchgym.world.schema import RelationSpec, Schema


@dataclass(frozen=True)
class Entity:
    """A node of the world: its invented name, aliases and literal attributes."""

    id: str
    type: str
    name: str
    aliases: tuple[str, ...] = ()
    attributes: dict[str, Literal] = field(default_factory=dict, compare=False)
    look_alike_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "aliases": list(self.aliases),
            "attributes": dict(self.attributes),
            "look_alike_of": self.look_alike_of,
        }


def _attribute_facts(entity: Entity) -> list[Fact]:
    return [Fact(entity.id, attr, value, is_relation=False) for attr, value in sorted(entity.attributes.items())]


Links = DictLinks | ArrayLinks
"""Either layout of a world's graph look-ups (:mod:`searchgym.world.links`)."""


class World:
    """A generated world. Build one with :func:`searchgym.world.build_world`."""

    def __init__(
        self,
        schema: Schema,
        size: int,
        seed: int,
        entities: list[Entity],
        edges: list[tuple[str, str, str]],
        *,
        edges_sorted: bool = False,
    ) -> None:
        """``edges_sorted``: the caller guarantees ``edges`` is sorted without duplicates (a
        world read back from its column file), so the sort of every edge is skipped."""
        by_type: dict[str, list[str]] = defaultdict(list)
        for entity in entities:
            by_type[entity.type].append(entity.id)
        self._set_parts(
            schema,
            size,
            seed,
            {entity.id: entity for entity in entities},
            list(edges) if edges_sorted else sorted(set(edges)),
            by_type,
            None,
        )

    @classmethod
    def from_parts(
        cls,
        schema: Schema,
        size: int,
        seed: int,
        entities: Mapping[str, Entity],
        edges: Callable[[], list[tuple[str, str, str]]],
        by_type: Callable[[], dict[str, list[str]]],
        links: Callable[[], Links],
    ) -> World:
        """A world whose entity mapping is given and whose sorted edge list, type index and
        graph look-ups are made on first use (a world read lazily from its column file:
        :mod:`searchgym.world.storage`)."""
        world = cls.__new__(cls)
        world._set_parts(schema, size, seed, entities, edges, by_type, links)
        return world

    def _set_parts(
        self,
        schema: Schema,
        size: int,
        seed: int,
        entities: Mapping[str, Entity],
        edges: list[tuple[str, str, str]] | Callable[[], list[tuple[str, str, str]]],
        by_type: dict[str, list[str]] | Callable[[], dict[str, list[str]]],
        links: Callable[[], Links] | None,
    ) -> None:
        self.schema = schema
        self.size = size
        self.seed = seed
        self.entities: Mapping[str, Entity] = entities
        # each the value itself, or what makes it on first use (see _part)
        self._parts: dict[str, Any] = {
            "edges": edges,
            "by_type": by_type,
            "links": links,  # None: DictLinks of the edge list, made on first use
        }
        self._graph: nx.MultiDiGraph | None = None
        self._canonical: bytes | None = None
        self._schema_hash: str | None = None
        self._name_keys: set[str] | None = None

    def _part(self, name: str) -> Any:
        """A part given as a value, or made now by the callable given for it (then kept, and
        the callable, with the columns it holds, dropped)."""
        part = self._parts[name]
        if callable(part):
            part = self._parts[name] = part()
        return part

    @property
    def edges(self) -> list[tuple[str, str, str]]:
        """Every ``(source, relation, target)``, sorted, without duplicates."""
        edges: list[tuple[str, str, str]] = self._part("edges")
        return edges

    @property
    def _by_type(self) -> dict[str, list[str]]:
        by_type: dict[str, list[str]] = self._part("by_type")
        return by_type

    # -- identity ---------------------------------------------------------------------------
    @property
    def schema_hash(self) -> str:
        if self._schema_hash is None:  # hashed once: the schema and wording text is ~100 KB
            self._schema_hash = content_hash(self.schema.source_text, length=8)
        return self._schema_hash

    @property
    def world_id(self) -> str:
        """Stable name of this world: schema, its content hash, size and seed."""
        return f"{self.schema.name}-{self.schema_hash}-n{self.size}-s{self.seed}"

    def canonical_bytes(self) -> bytes:
        """The world as canonical JSON: equal bytes ⇔ equal worlds (the determinism contract)."""
        if self._canonical is None:
            payload = {
                "world_id": self.world_id,
                "entities": [entity.to_dict() for entity in self.entities.values()],
                "edges": [list(edge) for edge in self.edges],
            }
            self._canonical = stable_json(payload).encode("utf-8")
        return self._canonical

    @property
    def content_hash(self) -> str:
        return content_hash(self.canonical_bytes())

    # -- look-ups ---------------------------------------------------------------------------
    def entity(self, entity_id: str) -> Entity:
        return self.entities[entity_id]

    def name(self, entity_id: str) -> str:
        entities = self.entities
        name_of = getattr(entities, "name_of", None)  # a loaded world's table reads its name column
        return name_of(entity_id) if name_of is not None else entities[entity_id].name

    def names_an_entity(self, text: str) -> bool:
        """Whether ``text`` is the name or an alias of some entity (after name normalisation):
        a short name ("Grouhe" for "Waekru Grouhe") may only be used when it is not."""
        if self._name_keys is None:
            self._name_keys = {normalize_name(t) for e in self.entities.values() for t in (e.name, *e.aliases)}
        return normalize_name(text) in self._name_keys

    def of_type(self, type_name: str) -> list[str]:
        return list(self._by_type.get(type_name, ()))

    def _links(self) -> Links:
        """Graph look-ups, made on first use: :class:`~searchgym.world.links.DictLinks` for a
        world built here, :class:`~searchgym.world.links.ArrayLinks` for one read from its
        column file (the trade-off is in :mod:`searchgym.world.links`).

        Why lazily: a world read from the cache serves an env whose search engine never walks
        the graph; corpus writing, task generation and the simulated engine build the look-ups
        on their first one. Two threads racing here build equal look-ups: no lock (Worlds pickle).
        """
        if self._parts["links"] is None:
            self._parts["links"] = DictLinks(self.edges)
        links: Links = self._part("links")
        return links

    def targets(self, entity_id: str, relation: str) -> list[str]:
        return self._links().targets(entity_id, relation)

    def sources(self, entity_id: str, relation: str) -> list[str]:
        return self._links().sources(entity_id, relation)

    def relation(self, name: str) -> RelationSpec:
        return self.schema.relation(name)

    def relation_facts(self, entity_id: str) -> list[Fact]:
        """Relation facts in which the entity is subject or object, sorted."""
        facts: set[Fact] = set()
        for relation in self.schema.relations:
            facts.update(Fact(entity_id, relation.name, t) for t in self.targets(entity_id, relation.name))
            facts.update(Fact(s, relation.name, entity_id) for s in self.sources(entity_id, relation.name))
        return sorted(facts)

    def attribute_facts(self, entity_id: str) -> list[Fact]:
        return _attribute_facts(self.entities[entity_id])

    def facts(self) -> list[Fact]:
        """Every fact of the world: attributes then relations, in a stable order."""
        # one bulk pass over the entities: a loaded world makes no entity per look-up
        attribute_facts = [fact for entity in self.entities.values() for fact in _attribute_facts(entity)]
        return attribute_facts + [Fact(s, r, t) for s, r, t in self.edges]

    def to_networkx(self) -> nx.MultiDiGraph:
        """A new networkx MultiDiGraph of the world, for any networkx algorithm: nodes are
        entity ids (with type, name, aliases and attributes), edge keys are relation names.
        Each call builds a fresh graph the caller may change; :attr:`graph` is a shared one."""
        graph = nx.MultiDiGraph(world_id=self.world_id, schema=self.schema.name, seed=self.seed)
        for entity in self.entities.values():
            graph.add_node(entity.id, type=entity.type, name=entity.name, aliases=entity.aliases, **entity.attributes)
        for source, relation, target in self.edges:
            graph.add_edge(source, target, key=relation, relation=relation)
        return graph

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The world as a networkx MultiDiGraph (:meth:`to_networkx`, built once on first use;
        it costs ~1.7 KB per entity, so large worlds build it only when asked)."""
        if self._graph is None:
            self._graph = self.to_networkx()
        return self._graph

    def __len__(self) -> int:
        return len(self.entities)

    def __repr__(self) -> str:
        return f"World({self.world_id!r}, entities={len(self.entities)}, edges={len(self.edges)})"

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = defaultdict(int)
        for _, relation, _ in self.edges:
            counts[relation] += 1
        return {
            "world_id": self.world_id,
            "entities": {t: len(ids) for t, ids in self._by_type.items()},
            "relations": dict(counts),
        }

    @classmethod
    def from_canonical_bytes(cls, schema: Schema, data: bytes) -> World:
        """Rebuild a world saved with :meth:`canonical_bytes` (used by the on-disk cache)."""
        payload = json.loads(data)
        _, _, size, seed = payload["world_id"].rsplit("-", 3)
        entities = [
            Entity(e["id"], e["type"], e["name"], tuple(e["aliases"]), dict(e["attributes"]), e["look_alike_of"])
            for e in payload["entities"]
        ]
        world = cls(schema, int(size[1:]), int(seed[1:]), entities, [tuple(edge) for edge in payload["edges"]])
        if world.world_id != payload["world_id"]:
            raise ValueError(f"saved world {payload['world_id']} does not match schema {schema.name}")
        return world

    def to_json(self) -> str:
        return json.dumps(json.loads(self.canonical_bytes()), indent=1, ensure_ascii=False)
