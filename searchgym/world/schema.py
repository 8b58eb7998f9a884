"""World schemas: which entity types, attributes and relations a synthetic world has.

Schemas are TOML files (see ``corpora/schemas/default.toml``) so that a researcher can add a
relation or an entity type without touching code; how each fact reads lives in the wording file
beside it (:mod:`searchgym.world.wording`). Loading validates everything up front and fails with
a message naming the offending key (unknown keys included), because a bad schema found
mid-generation would waste minutes and produce a half-built world, and an ignored key is a
silent bug.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

from searchgym.world.wording import Wording, WordingError, parse_wording

CARDINALITIES = ("1-1", "1-n", "n-1", "n-n")
ATTRIBUTE_KINDS = ("year", "number", "category")
NAME_STYLES = ("person", "city", "country", "organization", "university", "film", "generic")
INVERSE_LISTS = ("complete", "notable", "none")
_SCHEMA_KEYS = {"name", "version", "description", "wording", "entity_types", "relations"}
_TYPE_KEYS = {"share", "min_count", "name_style", "name_forms", "attributes"}
NAME_FORM_SLOTS = {"w", "v", "person"}
_ATTRIBUTE_KEYS = {"kind", "min", "max", "values", "at_least"}
_RELATION_KEYS = {
    "source",
    "target",
    "cardinality",
    "coverage",
    "symmetric",
    "max_per_source",
    "consistent_with",
    "degree_exponent",
    "constraints",
    "inverse_list",
    "notable_max",
}
_CONSTRAINT_KEYS = {"source_attr", "target_attr", "min_gap", "max_gap"}


class SchemaError(ValueError):
    """The schema file is malformed; the message names the key at fault."""


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    kind: str
    min: int | None = None
    max: int | None = None
    values: tuple[str, ...] = ()
    at_least: str | None = None  # a relation: the value is at least its number of sources here


@dataclass(frozen=True)
class EntityTypeSpec:
    name: str
    share: float
    min_count: int
    name_style: str
    attributes: tuple[AttributeSpec, ...]
    name_forms: tuple[str, ...] = ()  # "{w} Medal", "Journal of {w} Studies": overrides name_style

    def attribute(self, name: str) -> AttributeSpec | None:
        return next((spec for spec in self.attributes if spec.name == name), None)


@dataclass(frozen=True)
class GapConstraint:
    """``min_gap <= source.<source_attr> - target.<target_attr> <= max_gap`` for every edge.

    Keeps the world free of absurd facts: a film directed by someone born after it, a studio
    releasing films before it was founded, a mentor younger than their protégé.
    """

    source_attr: str
    target_attr: str
    min_gap: int | None = None
    max_gap: int | None = None

    def holds(self, source_value: int, target_value: int) -> bool:
        gap = source_value - target_value
        return (self.min_gap is None or gap >= self.min_gap) and (self.max_gap is None or gap <= self.max_gap)

    def target_range(self, source_value: int) -> tuple[int | None, int | None]:
        """Allowed target values given the source's."""
        low = None if self.max_gap is None else source_value - self.max_gap
        high = None if self.min_gap is None else source_value - self.min_gap
        return low, high

    def source_range(self, target_value: int) -> tuple[int | None, int | None]:
        """Allowed source values given the target's."""
        low = None if self.min_gap is None else target_value + self.min_gap
        high = None if self.max_gap is None else target_value + self.max_gap
        return low, high

    def describe(self) -> str:
        bounds = []
        if self.min_gap is not None:
            bounds.append(f">= {self.min_gap}")
        if self.max_gap is not None:
            bounds.append(f"<= {self.max_gap}")
        return f"source.{self.source_attr} - target.{self.target_attr} {' and '.join(bounds)}"


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
    constraints: tuple[GapConstraint, ...] = ()
    inverse_list: str = "complete"
    notable_max: int = 4

    @property
    def functional(self) -> bool:
        """Each source has at most one target, so "the <relation> of X" is well defined."""
        return self.cardinality in ("n-1", "1-1")

    @property
    def inverse_functional(self) -> bool:
        """Each target has at most one source, so the inverse reading is well defined."""
        return self.cardinality in ("1-n", "1-1")

    @property
    def countable(self) -> bool:
        """Whether "how many ..." questions may count this relation from one page: the targets
        of a 1-n source are always all listed on its page; the sources of an n-1 or n-n target
        only when its page lists them completely."""
        if self.symmetric or self.cardinality == "1-1":
            return False
        return self.cardinality == "1-n" or self.inverse_list == "complete"


@dataclass(frozen=True)
class Schema:
    name: str
    version: int
    description: str
    entity_types: tuple[EntityTypeSpec, ...]
    relations: tuple[RelationSpec, ...]
    source_text: str = field(default="", compare=False, repr=False)
    wording: Wording | None = field(default=None, compare=False, repr=False)

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


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(allowed)}")


def _parse_attribute(name: str, table: Any, where: str) -> AttributeSpec:
    if not isinstance(table, dict):
        raise SchemaError(f'{where}: must be a table like {{ kind = "year", min = 1900, max = 2000 }}')
    _check_keys(table, _ATTRIBUTE_KEYS, where)
    kind = _require(table, "kind", where)
    if kind not in ATTRIBUTE_KINDS:
        raise SchemaError(f"{where}.kind: {kind!r} is not one of {ATTRIBUTE_KINDS}")
    if kind == "category":
        values = table.get("values")
        if not isinstance(values, list) or len(values) < 2 or not all(isinstance(v, str) for v in values):
            raise SchemaError(f"{where}.values: a category needs a list of at least two strings")
        if len(set(values)) != len(values):
            raise SchemaError(f"{where}.values: duplicate category values")
        if "at_least" in table or "min" in table or "max" in table:
            raise SchemaError(f"{where}: a category takes only 'values'")
        return AttributeSpec(name=name, kind=kind, values=tuple(values))
    if "values" in table:
        raise SchemaError(f"{where}.values: only categories have values")
    low, high = _require(table, "min", where), _require(table, "max", where)
    if not (isinstance(low, int) and isinstance(high, int)) or low >= high:
        raise SchemaError(f"{where}: min and max must be integers with min < max (got {low!r}, {high!r})")
    at_least = table.get("at_least")
    if at_least is not None and (kind != "number" or not isinstance(at_least, str)):
        raise SchemaError(f"{where}.at_least: only a number attribute can be at least a relation's count")
    return AttributeSpec(name=name, kind=kind, min=low, max=high, at_least=at_least)


def _parse_entity_type(name: str, table: Any) -> EntityTypeSpec:
    where = f"entity_types.{name}"
    if not isinstance(table, dict):
        raise SchemaError(f"{where}: must be a table")
    _check_keys(table, _TYPE_KEYS, where)
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
        name_forms=_parse_name_forms(table.get("name_forms"), f"{where}.name_forms", style),
    )


def _parse_name_forms(value: Any, where: str, style: str) -> tuple[str, ...]:
    """Name patterns of a type: ``{w}`` an invented word of two or three syllables, ``{v}`` one of
    two, ``{person}`` a given and family name. Literal text may not hold a list separator (a
    name like "Journal of A and B" would make "X, Y and Z" lists ambiguous)."""
    if value is None:
        return ()
    if style != "generic":
        raise SchemaError(f"{where}: name_forms replace name_style; leave name_style out")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SchemaError(f'{where}: must be a non-empty list of patterns like "{{w}} Medal"')
    from searchgym.world.names import has_list_separator  # names imports nothing from schema

    for form in value:
        slots = {name for _, name, _, _ in string.Formatter().parse(form) if name is not None}
        if not slots or slots - NAME_FORM_SLOTS:
            raise SchemaError(
                f"{where}: {form!r} must use the slots {sorted(NAME_FORM_SLOTS)} (at least one) and no others"
            )
        literal = re.sub(r"\{\w+\}", "x", form)
        if has_list_separator(literal) or any(ch.isdigit() for ch in literal):
            raise SchemaError(f"{where}: {form!r} contains a list separator or a digit, which no name may hold")
    return tuple(value)


def _parse_constraints(
    value: Any, where: str, source: EntityTypeSpec, target: EntityTypeSpec
) -> tuple[GapConstraint, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SchemaError(
            f"{where}: must be a list of tables like {{ source_attr = ..., target_attr = ..., min_gap = 0 }}"
        )
    constraints = []
    for index, table in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(table, dict):
            raise SchemaError(f"{here}: must be a table")
        _check_keys(table, _CONSTRAINT_KEYS, here)
        source_attr, target_attr = _require(table, "source_attr", here), _require(table, "target_attr", here)
        for role, spec, attr in (("source_attr", source, source_attr), ("target_attr", target, target_attr)):
            found = spec.attribute(attr) if isinstance(attr, str) else None
            if found is None or found.kind not in ("year", "number"):
                raise SchemaError(f"{here}.{role}: {spec.name} has no numeric attribute {attr!r}")
        bounds = [table.get("min_gap"), table.get("max_gap")]
        if all(b is None for b in bounds) or any(
            b is not None and (not isinstance(b, int) or isinstance(b, bool)) for b in bounds
        ):
            raise SchemaError(f"{here}: needs an integer min_gap and/or max_gap")
        low, high = bounds
        if low is not None and high is not None and low > high:
            raise SchemaError(f"{here}: min_gap {bounds[0]} is above max_gap {bounds[1]}")
        constraints.append(GapConstraint(source_attr, target_attr, bounds[0], bounds[1]))
    return tuple(constraints)


def _parse_relation(name: str, table: Any, types: dict[str, EntityTypeSpec]) -> RelationSpec:
    where = f"relations.{name}"
    if not isinstance(table, dict):
        raise SchemaError(f"{where}: must be a table")
    _check_keys(table, _RELATION_KEYS, where)
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
    constraints = _parse_constraints(table.get("constraints"), f"{where}.constraints", types[source], types[target])
    exponent = table.get("degree_exponent", 0.8)
    if not isinstance(exponent, (int, float)) or exponent < 0:
        raise SchemaError(f"{where}.degree_exponent: must be a non-negative number")
    inverse_list = table.get("inverse_list", "complete")
    if inverse_list not in INVERSE_LISTS:
        raise SchemaError(f"{where}.inverse_list: {inverse_list!r} is not one of {INVERSE_LISTS}")
    if symmetric and inverse_list != "none":
        raise SchemaError(f'{where}.inverse_list: a symmetric relation is written on both pages; use "none"')
    notable_max = table.get("notable_max", 4)
    if not isinstance(notable_max, int) or notable_max < 1:
        raise SchemaError(f"{where}.notable_max: must be a positive integer")
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
        constraints=constraints,
        inverse_list=inverse_list,
        notable_max=notable_max,
    )


def parse_schema(text: str, *, origin: str = "<string>", wording_text: str | None = None) -> Schema:
    """Parse and validate schema TOML text (and its wording, when given)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SchemaError(f"{origin}: not valid TOML: {error}") from error
    _check_keys(data, _SCHEMA_KEYS, origin)
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
    attribute_names = {attr.name for t in types.values() for attr in t.attributes}
    for relation in relations:
        if relation.consistent_with is not None:
            if relation.consistent_with not in names:
                raise SchemaError(
                    f"relations.{relation.name}.consistent_with: unknown relation {relation.consistent_with!r}"
                )
            other = next(r for r in relations if r.name == relation.consistent_with)
            if (other.source, other.target) != (relation.source, relation.target) or not other.functional:
                raise SchemaError(
                    f"relations.{relation.name}.consistent_with: {other.name} must be a functional relation "
                    f"between the same types"
                )
        if relation.name in attribute_names:
            raise SchemaError(f"relations.{relation.name}: name clashes with an attribute name")
    for type_spec in types.values():
        for attr in type_spec.attributes:
            if attr.at_least is None:
                continue
            counted = next((r for r in relations if r.name == attr.at_least), None)
            if counted is None or counted.target != type_spec.name:
                raise SchemaError(
                    f"entity_types.{type_spec.name}.attributes.{attr.name}.at_least: "
                    f"{attr.at_least!r} is not a relation pointing at {type_spec.name}"
                )
    schema = Schema(
        name=name,
        version=int(data.get("version", 1)),
        description=str(data.get("description", "")),
        entity_types=tuple(types.values()),
        relations=relations,
        source_text=text + ("" if wording_text is None else "\n# --- wording ---\n" + wording_text),
    )
    if wording_text is None:
        return schema
    try:
        wording = parse_wording(wording_text, schema, origin=f"wording of {origin}")
    except WordingError as error:
        raise SchemaError(str(error)) from None
    return replace(schema, wording=wording)
