"""How a world is written: sentence templates, question wordings and noun phrases per fact kind.

Wording belongs to the schema (a ``<name>.wording.toml`` beside it) rather than to Python code,
so a researcher who adds a relation also says how it reads, and a custom schema never gets
"the plays in of" prose from a generic fallback. Loading is strict: every relation, attribute
and entity type of the schema needs its entry, every template may use only the slots of its
role, and keys that the schema cannot use (a question for a relation that has no unique target)
are errors with the key named, because an ignored key is a silent bug in someone's world.

Length (about 440 lines, formatted): the parser of one file format with its validation tables
(the slots each role may use); the tables are data, and splitting them from the checks that
read them would put one rule in two places.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from searchgym.world.choices import (
    WordingError,
    check_choices,
    check_pools,
    expand_choices,
    expand_clean,
    parse_lexicon,
    pick_template,
    template_slots,
)

__all__ = [
    "AttributeWording",
    "RelationWording",
    "TypeWording",
    "Wording",
    "WordingError",
    "expand_choices",
    "parse_wording",
    "pick_template",
    "template_slots",
]


@dataclass(frozen=True)
class RelationWording:
    forward: tuple[str, ...]
    forward_list: tuple[str, ...] = ()
    inverse_one: tuple[str, ...] = ()
    inverse_list: tuple[str, ...] = ()
    inverse_notable: tuple[str, ...] = ()
    noun: tuple[str, ...] = ()
    question: tuple[str, ...] = ()
    inverse_noun: tuple[str, ...] = ()
    inverse_question: tuple[str, ...] = ()
    filter: tuple[str, ...] = ()
    filter_pair: tuple[str, ...] = ()
    count: tuple[str, ...] = ()
    bridge: tuple[str, ...] = ()
    source_section: str = "Overview"
    target_section: str = "Overview"
    label: str = ""  # infobox label of the target on the source's page ("Director")
    inverse_label: str = ""  # infobox label of the single source on the target's page ("Capital")


@dataclass(frozen=True)
class AttributeWording:
    sentences: tuple[str, ...]
    question: tuple[str, ...]
    larger: tuple[str, ...] = ()
    smaller: tuple[str, ...] = ()
    section: str = "Overview"
    label: str = ""  # infobox label ("Height (cm)")
    vague: tuple[str, ...] = ()  # a year restated by its decade ({decade}); never a fact on its own
    roundup: tuple[str, ...] = ()  # a year page listing entities with this value ({v}, {items})
    roundup_title: str = ""  # its title ("{v} in film")
    roundup_narrative: tuple[str, ...] = ()  # sentences about the year ({v} only) that fill its page


@dataclass(frozen=True)
class TypeWording:
    noun: str
    plural: str
    pronouns: tuple[str, ...]
    short_name: str
    sections: tuple[str, ...]
    leads: tuple[str, ...]
    descriptions: tuple[str, ...] = ()  # "the film", "the company": how later sentences may refer to it


@dataclass(frozen=True)
class Wording:
    types: Mapping[str, TypeWording]
    relations: Mapping[str, RelationWording]
    attributes: Mapping[str, AttributeWording]
    combos: Mapping[tuple[str, str], tuple[str, ...]]
    narrative: Mapping[str, tuple[str, ...]]  # by "Section", or by "type.Section" for one type only
    questions: Mapping[str, tuple[str, ...]]
    lexicon: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source_text: str = field(default="", compare=False, repr=False)
    # the optional deep-research wording (:mod:`searchgym.world.deep_wording`), from its own file
    deep: Any = field(default=None, compare=False, repr=False)

    def pick(self, rng: Any, options: tuple[str, ...] | list[str]) -> str:
        """One of ``options``, its choice groups and lexicon pools expanded."""
        return pick_template(rng, options, self.lexicon)

    def expand(self, template: str, rng: Any) -> str:
        return expand_clean(template, rng, self.lexicon)

    def narrative_for(self, entity_type: str, section: str) -> tuple[str, ...]:
        """The connective sentences of ``section`` on a page of ``entity_type``: the type's own
        list (``"paper.Overview"``) where the wording has one, else the section's shared list."""
        return self.narrative.get(f"{entity_type}.{section}", self.narrative.get(section, ()))


# Slots each role may use (a template must use every slot in `required`).
_RELATION_ROLES: dict[str, tuple[set[str], set[str]]] = {
    # role: (required slots, optional slots)
    "forward": ({"s", "o"}, {"s_pos"}),
    "forward_list": ({"s", "items"}, {"s_pos"}),
    "inverse_one": ({"t", "item"}, {"t_pos"}),
    "inverse_list": ({"t", "items"}, {"t_pos"}),
    "inverse_notable": ({"t", "items"}, {"t_pos"}),
    "noun": ({"x"}, set()),
    "question": ({"x"}, set()),
    "inverse_noun": ({"x"}, set()),
    "inverse_question": ({"x"}, set()),
    "filter": ({"o"}, set()),
    "filter_pair": ({"o1", "o2"}, set()),
    "count": ({"x"}, set()),
    "bridge": (set(), set()),
}
_ATTRIBUTE_ROLES: dict[str, tuple[set[str], set[str]]] = {
    "sentences": ({"s", "v"}, {"s_pos"}),
    "question": ({"x"}, set()),
    "larger": (set(), set()),
    "smaller": (set(), set()),
    "vague": ({"s", "decade"}, {"s_pos"}),
    "roundup": ({"v", "items"}, set()),
    "roundup_narrative": (set(), {"v"}),
}
_QUESTION_FORMS: dict[str, tuple[set[str], set[str]]] = {
    "comparison": ({"predicate", "a", "b"}, {"type", "plural"}),
    "bridge_comparison": ({"bridge", "predicate", "a", "b"}, {"type", "plural"}),
    "intersection": ({"f1", "f2"}, {"type", "plural"}),
    "intersection_same": ({"f"}, {"type", "plural"}),
}
_TYPE_KEYS = {"noun", "plural", "pronouns", "short_name", "sections", "leads", "descriptions"}
_OPTIONAL_TYPE_KEYS = {"descriptions"}
_PRONOUNS = ("he", "she", "it")
_SHORT_NAMES = ("full", "last_word")
_TOP_KEYS = {"types", "relations", "attributes", "combos", "narrative", "questions", "lexicon"}


def _templates(value: Any, where: str, required: set[str], optional: set[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise WordingError(f"{where}: must be a non-empty list of strings")
    if len(set(value)) != len(value):
        raise WordingError(f"{where}: duplicate templates")
    for template in value:
        check_choices(template, where, required)
        slots = template_slots(template)
        # a possessive form also names the subject: "{s_pos} birthplace is {o}" needs no "{s}"
        named = slots | {slot[:-4] for slot in slots if slot.endswith("_pos")}
        unknown, missing = slots - required - optional, required - named
        if unknown:
            raise WordingError(
                f"{where}: {template!r} uses unknown slot(s) {sorted(unknown)}; allowed: {sorted(required | optional)}"
            )
        if missing:
            raise WordingError(f"{where}: {template!r} lacks slot(s) {sorted(missing)}")
    return tuple(value)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WordingError(f"{where}: must be a table")
    return value


def _check_keys(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise WordingError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(allowed)}")


def _parse_relation(name: str, table: Any) -> RelationWording:
    where = f"relations.{name}"
    table = _table(table, where)
    _check_keys(table, {*_RELATION_ROLES, "source_section", "target_section", "label", "inverse_label"}, where)
    values: dict[str, Any] = {}
    for role, (required, optional) in _RELATION_ROLES.items():
        if role in table:
            values[role] = _templates(table[role], f"{where}.{role}", required, optional)
    if "forward" not in values:
        raise WordingError(f"{where}: missing required key 'forward'")
    for key in ("source_section", "target_section", "label", "inverse_label"):
        if key in table:
            if not isinstance(table[key], str) or not table[key].strip():
                raise WordingError(f"{where}.{key}: must be a non-empty string")
            values[key] = table[key]
    return RelationWording(**values)


def _parse_attribute(name: str, table: Any) -> AttributeWording:
    where = f"attributes.{name}"
    table = _table(table, where)
    _check_keys(table, {*_ATTRIBUTE_ROLES, "section", "label", "roundup_title"}, where)
    values: dict[str, Any] = {}
    for role, (required, optional) in _ATTRIBUTE_ROLES.items():
        if role in table:
            values[role] = _templates(table[role], f"{where}.{role}", required, optional)
    for role in ("sentences", "question"):
        if role not in values:
            raise WordingError(f"{where}: missing required key {role!r}")
    for key in ("section", "label", "roundup_title"):
        if key in table:
            if not isinstance(table[key], str) or not table[key].strip():
                raise WordingError(f"{where}.{key}: must be a non-empty string")
            values[key] = table[key]
    if "label" not in values:
        raise WordingError(f"{where}: missing required key 'label' (the attribute's infobox label)")
    if bool(values.get("roundup")) != ("roundup_title" in values):
        raise WordingError(f"{where}: 'roundup' and 'roundup_title' go together")
    if values.get("roundup_narrative") and not values.get("roundup"):
        raise WordingError(f"{where}.roundup_narrative: only an attribute with round-up pages uses it")
    if "roundup_title" in values and template_slots(values["roundup_title"]) != {"v"}:
        raise WordingError(f"{where}.roundup_title: must use exactly the slot {{v}}")
    return AttributeWording(**values)


def _parse_type(name: str, table: Any, lead_slots: set[str]) -> TypeWording:
    where = f"types.{name}"
    table = _table(table, where)
    _check_keys(table, _TYPE_KEYS, where)
    for key in _TYPE_KEYS - _OPTIONAL_TYPE_KEYS:
        if key not in table:
            raise WordingError(f"{where}: missing required key {key!r}")
    pronouns = table["pronouns"]
    if not isinstance(pronouns, list) or not pronouns or any(p not in _PRONOUNS for p in pronouns):
        raise WordingError(f"{where}.pronouns: a non-empty list of {_PRONOUNS}")
    if table["short_name"] not in _SHORT_NAMES:
        raise WordingError(f"{where}.short_name: one of {_SHORT_NAMES}")
    sections = table["sections"]
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        raise WordingError(f"{where}.sections: a list of section titles")
    for key in ("noun", "plural"):
        if not isinstance(table[key], str) or not table[key].strip():
            raise WordingError(f"{where}.{key}: must be a non-empty string")
    leads = _templates(table["leads"], f"{where}.leads", {"name"}, lead_slots)
    descriptions = table.get("descriptions", [])
    if not isinstance(descriptions, list) or not all(
        isinstance(d, str) and re.fullmatch(r"the [a-z][a-z ]*", d) for d in descriptions
    ):
        raise WordingError(
            f"{where}.descriptions: a list of lower-case noun phrases starting with 'the' "
            f'("the film"), or leave the key out'
        )
    return TypeWording(
        table["noun"],
        table["plural"],
        tuple(pronouns),
        table["short_name"],
        tuple(sections),
        leads,
        tuple(descriptions),
    )


def parse_wording(text: str, schema: Any, *, origin: str = "<string>") -> Wording:
    """Parse wording TOML and check that it covers ``schema`` (a :class:`~searchgym.world.schema.Schema`).

    Checks, each failing with the key named: every type, relation and attribute of the schema
    has an entry and none is unknown; each relation has exactly the roles its cardinality and
    list policy use (a question about "the target of X" only for functional relations, counting
    questions only for countable ones, ...); every template uses the slots of its role.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WordingError(f"{origin}: not valid TOML: {error}") from error
    _check_keys(data, _TOP_KEYS, origin)
    fact_kinds = {r.name for r in schema.relations} | {a.name for t in schema.entity_types for a in t.attributes}
    raw_types = _table(data.get("types", {}), "types")
    _check_keys(raw_types, {t.name for t in schema.entity_types}, "types")
    types: dict[str, TypeWording] = {}
    for spec in schema.entity_types:
        if spec.name not in raw_types:
            raise WordingError(f"{origin}: types.{spec.name} is missing (every entity type needs its wording)")
        types[spec.name] = _parse_type(spec.name, raw_types[spec.name], fact_kinds)
    raw_relations = _table(data.get("relations", {}), "relations")
    _check_keys(raw_relations, {r.name for r in schema.relations}, "relations")
    relations: dict[str, RelationWording] = {}
    for relation in schema.relations:
        if relation.name not in raw_relations:
            raise WordingError(f"{origin}: relations.{relation.name} is missing (every relation needs its wording)")
        relation_wording = _parse_relation(relation.name, raw_relations[relation.name])
        _check_relation_roles(relation, relation_wording)
        relations[relation.name] = relation_wording
    attribute_names = {a.name: a for t in schema.entity_types for a in t.attributes}
    raw_attributes = _table(data.get("attributes", {}), "attributes")
    _check_keys(raw_attributes, attribute_names, "attributes")
    attributes: dict[str, AttributeWording] = {}
    for name, spec in attribute_names.items():
        if name not in raw_attributes:
            raise WordingError(f"{origin}: attributes.{name} is missing (every attribute needs its wording)")
        attribute_wording = _parse_attribute(name, raw_attributes[name])
        numeric = spec.kind in ("year", "number")
        if numeric != bool(attribute_wording.larger and attribute_wording.smaller):
            raise WordingError(
                f"attributes.{name}: numeric attributes need 'larger' and 'smaller' comparison "
                f"predicates and categories must not have them ({name} is a {spec.kind})"
            )
        attributes[name] = attribute_wording
    combos = {}
    for key, value in _table(data.get("combos", {}), "combos").items():
        first, plus, second = key.partition("+")
        if not plus or first not in fact_kinds or second not in fact_kinds or first == second:
            raise WordingError(f"combos.{key}: must be '<fact kind>+<other fact kind>' of the schema")
        combos[(first, second)] = _templates(value, f"combos.{key}", {"s", first, second}, {"s_pos"})
    sections = {s for t in types.values() for s in t.sections}
    narrative = {}
    for key, value in _table(data.get("narrative", {}), "narrative").items():
        _check_narrative_key(key, types, sections)
        narrative[key] = _templates(value, f"narrative.{key}", set(), {"s", "s_pos"})
    raw_questions = _table(data.get("questions", {}), "questions")
    _check_keys(raw_questions, _QUESTION_FORMS, "questions")
    questions = {}
    for form, (required, optional) in _QUESTION_FORMS.items():
        if form not in raw_questions:
            raise WordingError(f"{origin}: questions.{form} is missing")
        questions[form] = _templates(raw_questions[form], f"questions.{form}", required, optional)
    _check_sections(schema, types, relations, attributes)
    lexicon = parse_lexicon(data.get("lexicon", {}))
    wording = Wording(types, relations, attributes, combos, narrative, questions, lexicon, source_text=text)
    check_pools(_all_templates(wording), wording.lexicon)
    return wording


def _check_narrative_key(key: str, types: Mapping[str, TypeWording], sections: set[str]) -> None:
    """``"Section"`` (every type with that section) or ``"type.Section"`` (that type only: a paper's
    "Overview" needs other sentences than a city's)."""
    type_name, dot, section = key.partition(".")
    if dot:
        if type_name not in types:
            raise WordingError(f"narrative.{key}: {type_name!r} is no entity type; types: {sorted(types)}")
        if section not in types[type_name].sections:
            raise WordingError(
                f"narrative.{key}: {section!r} is no section of {type_name}; its sections: "
                f"{list(types[type_name].sections)}"
            )
    elif key not in sections:
        raise WordingError(f"narrative.{key}: not a section of any type; sections: {sorted(sections)}")


def _all_templates(wording: Wording) -> Iterable[tuple[str, str]]:
    for name, words in wording.types.items():
        yield from ((f"types.{name}.leads", t) for t in words.leads)
    fact_tables: tuple[tuple[str, Mapping[str, object]], ...] = (
        ("relations", wording.relations),
        ("attributes", wording.attributes),
    )
    for group, fact_table in fact_tables:
        for name, fact_words in fact_table.items():
            for field_name, templates in vars(fact_words).items():
                if isinstance(templates, tuple):
                    yield from ((f"{group}.{name}.{field_name}", t) for t in templates)
    for pair, combo_templates in wording.combos.items():
        yield from ((f"combos.{'+'.join(pair)}", t) for t in combo_templates)
    for table_name, table in (("narrative", wording.narrative), ("questions", wording.questions)):
        for key, templates in table.items():
            yield from ((f"{table_name}.{key}", t) for t in templates)


def _check_relation_roles(relation: Any, wording: RelationWording) -> None:
    """Exactly the roles this relation uses: present when needed, errors when never used."""
    where = f"relations.{relation.name}"
    single_source = relation.inverse_functional
    needed = {
        "forward_list": relation.cardinality in ("1-n", "n-n"),
        "inverse_one": relation.inverse_list != "none",
        "inverse_list": relation.inverse_list == "complete" and not single_source,
        "inverse_notable": relation.inverse_list == "notable",
        "noun": relation.functional,
        "question": relation.functional,
        "inverse_noun": relation.inverse_functional and not relation.symmetric,
        "inverse_question": relation.inverse_functional and not relation.symmetric,
        # "Which person <filter> and <filter>?" intersects the sources of two objects; a relation
        # whose objects have at most one source makes that intersection trivial
        "filter": relation.cardinality in ("n-1", "n-n"),
        "count": relation.countable,
        "bridge": relation.functional,
    }
    optional = {"filter_pair": relation.cardinality in ("n-n", "n-1")}
    for role, is_needed in needed.items():
        present = bool(getattr(wording, role))
        if is_needed and not present:
            raise WordingError(
                f"{where}: missing {role!r} ({relation.name} is {relation.cardinality}, "
                f"inverse_list={relation.inverse_list!r})"
            )
        if present and not is_needed:
            raise WordingError(
                f"{where}.{role}: never used for a {relation.cardinality} relation with "
                f"inverse_list={relation.inverse_list!r}; remove the key"
            )
    if wording.label and not relation.functional:
        raise WordingError(f"{where}.label: only a functional relation has one target to show in an infobox")
    if wording.inverse_label and not (relation.inverse_functional and not relation.symmetric):
        raise WordingError(f"{where}.inverse_label: only an inverse-functional relation has one source to show")
    if wording.filter_pair and not optional["filter_pair"]:
        raise WordingError(f"{where}.filter_pair: only many-to-one and many-to-many relations filter on two objects")


def _check_sections(
    schema: Any,
    types: Mapping[str, TypeWording],
    relations: Mapping[str, RelationWording],
    attributes: Mapping[str, AttributeWording],
) -> None:
    for relation in schema.relations:
        wording = relations[relation.name]
        for side, type_name, section in (
            ("source_section", relation.source, wording.source_section),
            ("target_section", relation.target, wording.target_section),
        ):
            if section not in types[type_name].sections:
                raise WordingError(
                    f"relations.{relation.name}.{side}: {section!r} is not a section of "
                    f"{type_name} ({list(types[type_name].sections)})"
                )
    for spec in schema.entity_types:
        for attribute in spec.attributes:
            section = attributes[attribute.name].section
            if section not in types[spec.name].sections:
                raise WordingError(
                    f"attributes.{attribute.name}.section: {section!r} is not a section of "
                    f"{spec.name} ({list(types[spec.name].sections)})"
                )
