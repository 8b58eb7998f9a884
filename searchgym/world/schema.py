"""World schemas: which entity types, attributes and relations a synthetic world has.

Schemas are TOML files (see ``corpora/schemas/default.toml``) so that a researcher can add a
relation or an entity type without touching code. Loading validates everything up front and
fails with a message naming the offending key, because a bad schema found mid-generation would
waste minutes and produce a half-built world.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchgym.resources import data_path

CARDINALITIES = ("1-1", "1-n", "n-1", "n-n")
ATTRIBUTE_KINDS = ("year", "number", "category")
NAME_STYLES = ("person", "city", "country", "organization", "university", "film", "generic")


class SchemaError(ValueError):
    """The schema file is malformed; the message names the key at fault."""


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    kind: str
    min: int | None = None
    max: int | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityTypeSpec:
    name: str
    share: float
    min_count: int
    name_style: str
    attributes: tuple[AttributeSpec, ...]

    def attribute(self, name: str) -> AttributeSpec | None:
        return next((spec for spec in self.attributes if spec.name == name), None)


@dataclass(frozen=True)
class TemporalConstraint:
    """``target.<target_attr> + min_gap <= source.<source_attr>`` (or the reverse if flipped).

    Keeps the world free of absurd facts such as a film directed by someone born after it.
    """

    source_attr: str
    target_attr: str
    min_gap: int
    target_before_source: bool = True


@dataclass(frozen=True)
class RelationSpec:
    name: str
    source: str
    target: str
    cardinality: str
    coverage: float = 1.0
    symmetric: bool = False
    max_per_source: int = 1
    consistent_with: str | None = None
    degree_exponent: float = 0.8
    constraint: TemporalConstraint | None = None

    @property
    def functional(self) -> bool:
        """Each source has at most one target, so "the <relation> of X" is well defined."""
        return self.cardinality in ("n-1", "1-1")

    @property
    def inverse_functional(self) -> bool:
        """Each target has at most one source, so the inverse reading is well defined."""
        return self.cardinality in ("1-n", "1-1")


@dataclass(frozen=True)
class Schema:
    name: str
    version: int
    description: str
    entity_types: tuple[EntityTypeSpec, ...]
    relations: tuple[RelationSpec, ...]
    source_text: str = field(default="", compare=False, repr=False)

    def entity_type(self, name: str) -> EntityTypeSpec:
        for spec in self.entity_types:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def relation(self, name: str) -> RelationSpec:
        for spec in self.relations:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _require(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise SchemaError(f"{where}: missing required key {key!r}")
    return table[key]


def _parse_attribute(name: str, table: Any, where: str) -> AttributeSpec:
    if not isinstance(table, dict):
        raise SchemaError(f"{where}: must be a table like {{ kind = \"year\", min = 1900, max = 2000 }}")
    kind = _require(table, "kind", where)
    if kind not in ATTRIBUTE_KINDS:
        raise SchemaError(f"{where}.kind: {kind!r} is not one of {ATTRIBUTE_KINDS}")
    if kind == "category":
        values = table.get("values")
        if not isinstance(values, list) or len(values) < 2 or not all(isinstance(v, str) for v in values):
            raise SchemaError(f"{where}.values: a category needs a list of at least two strings")
        if len(set(values)) != len(values):
            raise SchemaError(f"{where}.values: duplicate category values")
        return AttributeSpec(name=name, kind=kind, values=tuple(values))
    low, high = _require(table, "min", where), _require(table, "max", where)
    if not (isinstance(low, int) and isinstance(high, int)) or low >= high:
        raise SchemaError(f"{where}: min and max must be integers with min < max (got {low!r}, {high!r})")
    return AttributeSpec(name=name, kind=kind, min=low, max=high)


def _parse_entity_type(name: str, table: Any) -> EntityTypeSpec:
    where = f"entity_types.{name}"
    if not isinstance(table, dict):
        raise SchemaError(f"{where}: must be a table")
    share = _require(table, "share", where)
    if not isinstance(share, (int, float)) or share <= 0:
        raise SchemaError(f"{where}.share: must be a positive number")
    style = table.get("name_style", "generic")
    if style not in NAME_STYLES:
        raise SchemaError(f"{where}.name_style: {style!r} is not one of {NAME_STYLES}")
    attributes = table.get("attributes", {})
    if not isinstance(attributes, dict):
        raise SchemaError(f"{where}.attributes: must be a table")
    min_count = table.get("min_count", 1)
    if not isinstance(min_count, int) or min_count < 1:
        raise SchemaError(f"{where}.min_count: must be a positive integer")
    return EntityTypeSpec(
        name=name,
        share=float(share),
        min_count=min_count,
        name_style=style,
        attributes=tuple(
            _parse_attribute(attr, spec, f"{where}.attributes.{attr}") for attr, spec in attributes.items()
        ),
    )


def _parse_constraint(table: Any, where: str) -> TemporalConstraint | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise SchemaError(f"{where}: must be a table")
    return TemporalConstraint(
        source_attr=_require(table, "source_attr", where),
        target_attr=_require(table, "target_attr", where),
        min_gap=int(table.get("min_gap", 0)),
        target_before_source=bool(table.get("target_before_source", True)),
    )


def _parse_relation(name: str, table: Any, types: dict[str, EntityTypeSpec]) -> RelationSpec:
    where = f"relations.{name}"
    if not isinstance(table, dict):
        raise SchemaError(f"{where}: must be a table")
    source, target = _require(table, "source", where), _require(table, "target", where)
    for role, type_name in (("source", source), ("target", target)):
        if type_name not in types:
            raise SchemaError(f"{where}.{role}: unknown entity type {type_name!r}")
    cardinality = _require(table, "cardinality", where)
    if cardinality not in CARDINALITIES:
        raise SchemaError(f"{where}.cardinality: {cardinality!r} is not one of {CARDINALITIES}")
    coverage = table.get("coverage", 1.0)
    if not isinstance(coverage, (int, float)) or not 0 < coverage <= 1:
        raise SchemaError(f"{where}.coverage: must be in (0, 1]")
    symmetric = bool(table.get("symmetric", False))
    if symmetric and (source != target or cardinality != "1-1"):
        raise SchemaError(f"{where}: only 1-1 relations between one entity type can be symmetric")
    max_per_source = int(table.get("max_per_source", 1 if cardinality in ("n-1", "1-1") else 3))
    if max_per_source < 1:
        raise SchemaError(f"{where}.max_per_source: must be at least 1")
    constraint = _parse_constraint(table.get("constraint"), f"{where}.constraint")
    if constraint is not None:
        if types[source].attribute(constraint.source_attr) is None:
            raise SchemaError(f"{where}.constraint.source_attr: {source} has no attribute {constraint.source_attr!r}")
        if types[target].attribute(constraint.target_attr) is None:
            raise SchemaError(f"{where}.constraint.target_attr: {target} has no attribute {constraint.target_attr!r}")
    exponent = table.get("degree_exponent", 0.8)
    if not isinstance(exponent, (int, float)) or exponent < 0:
        raise SchemaError(f"{where}.degree_exponent: must be a non-negative number")
    return RelationSpec(
        name=name,
        source=source,
        target=target,
        cardinality=cardinality,
        coverage=float(coverage),
        symmetric=symmetric,
        max_per_source=max_per_source,
        consistent_with=table.get("consistent_with"),
        degree_exponent=float(exponent),
        constraint=constraint,
    )


def parse_schema(text: str, *, origin: str = "<string>") -> Schema:
    """Parse and validate schema TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SchemaError(f"{origin}: not valid TOML: {error}") from error
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{origin}: missing required key 'name'")
    raw_types = data.get("entity_types")
    if not isinstance(raw_types, dict) or not raw_types:
        raise SchemaError(f"{origin}: needs at least one [entity_types.<name>] table")
    types = {type_name: _parse_entity_type(type_name, table) for type_name, table in raw_types.items()}
    raw_relations = data.get("relations", {})
    if not isinstance(raw_relations, dict):
        raise SchemaError(f"{origin}: [relations] must be a table")
    relations = tuple(_parse_relation(rel, table, types) for rel, table in raw_relations.items())
    names = {relation.name for relation in relations}
    for relation in relations:
        if relation.consistent_with is not None:
            if relation.consistent_with not in names:
                raise SchemaError(f"relations.{relation.name}.consistent_with: unknown relation {relation.consistent_with!r}")
            other = next(r for r in relations if r.name == relation.consistent_with)
            if (other.source, other.target) != (relation.source, relation.target) or not other.functional:
                raise SchemaError(
                    f"relations.{relation.name}.consistent_with: {other.name} must be a functional relation "
                    f"between the same types"
                )
        collisions = {attr.name for t in types.values() for attr in t.attributes} & {relation.name}
        if collisions:
            raise SchemaError(f"relations.{relation.name}: name clashes with an attribute name")
    return Schema(
        name=name,
        version=int(data.get("version", 1)),
        description=str(data.get("description", "")),
        entity_types=tuple(types.values()),
        relations=relations,
        source_text=text,
    )


def load_schema(name_or_path: str | Path) -> Schema:
    """Load a schema by bundled name (``"default"``) or by path to a TOML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = data_path("corpora") / "schemas" / f"{name_or_path}.toml"
    if not path.is_file():
        bundled = sorted(p.stem for p in (data_path("corpora") / "schemas").glob("*.toml"))
        raise SchemaError(f"no schema file {str(name_or_path)!r}; bundled schemas: {bundled}")
    return parse_schema(path.read_text(encoding="utf-8"), origin=str(path))
