"""How deep-research questions read: descriptions of unnamed entities, lists, premises, profiles.

The deep task families (:mod:`searchgym.tasks.deep`) describe entities instead of naming them
("a painter born in the late 1950s who mentored a person born in a city with about three
million inhabitants"), ask for complete lists ("Which films directed by X were released in the
1970s?") and for short profiles ("... covering the birthplace, mentor and birth year of X").
Their wording lives in an optional file beside the schema, ``<schema>.deep.wording.toml``, so
that a schema without it still builds every classic task, and so that adding it changes
neither the world id nor the corpus of the classic specs (the schema's own wording file is part
of the world id). Loading is as strict as :mod:`searchgym.world.wording`: every type, attribute
and relation needs its entry, each template uses exactly the slots of its role, unknown keys
are errors with the key named.

Slots
  {v}        a value phrase, written by :mod:`searchgym.tasks.fuzzy` ("in the late 1970s",
             "about three million", "painter")
  {y}        the description of the entity on the other side of a relation ("a city with ...")
  {who}      "who" or "that", by the type of the entity the phrase describes
  {x}        a name, or a noun phrase naming an entity ("the mentor of X")
  {noun} {mods} {members} {f} {aspects}   parts of the question frames (see ``questions``)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# one implementation of template and table checks for both wording files
from searchgym.world.wording import WordingError, _table, _templates, template_slots

__all__ = [
    "DeepAttributeWording",
    "DeepRelationWording",
    "DeepTypeWording",
    "DeepWording",
    "parse_deep_wording",
]


@dataclass(frozen=True)
class DeepTypeWording:
    noun: str  # "person"
    plural: str  # "people"
    relative: str  # "who" or "that": the relative pronoun of a phrase about this type


@dataclass(frozen=True)
class DeepAttributeWording:
    modifier: tuple[str, ...]  # after a noun: "born {v}" ("a person born in the 1950s")
    plural: tuple[str, ...]  # a filter on a plural subject: "were released {v}"
    aspect: str  # what a profile asks for: "birth year"
    noun: str = ""  # categories only: the value replaces the type noun ("{v} film": "a noir film")


@dataclass(frozen=True)
class DeepRelationWording:
    forward: tuple[str, ...]  # from the source, {y} the target: "directed by {y}"
    inverse: tuple[str, ...]  # from the target, {y} the source: "{who} directed {y}"
    members: tuple[str, ...] = ()  # every source of {x} (complete inverse lists): "films directed by {x}"
    members_forward: tuple[str, ...] = ()  # every target of {x} (1-n, n-n): "people mentored by {x}"
    aspect: str = ""  # a profile's name for the unique target ("birthplace")
    inverse_aspect: str = ""  # ... for the unique source of an inverse-functional relation ("mentor")


@dataclass(frozen=True)
class DeepWording:
    types: Mapping[str, DeepTypeWording]
    attributes: Mapping[str, DeepAttributeWording]
    relations: Mapping[str, DeepRelationWording]
    names: Mapping[str, tuple[str, ...]]  # "surname_prefix", "name_suffix": {v} the letters
    questions: Mapping[str, tuple[str, ...]]
    source_text: str = field(default="", compare=False, repr=False)


_QUESTION_FORMS: dict[str, tuple[set[str], set[str]]] = {
    # the answer described: {noun} its noun, {mods} its description after the noun, {who} its pronoun
    "described": ({"noun", "mods"}, {"who"}),
    "list": ({"members"}, set()),
    "list_filtered": ({"members", "f"}, set()),
    "profile": ({"x", "aspects"}, set()),
}
_NAME_FORMS = ("surname_prefix", "name_suffix")
_TOP_KEYS = {"types", "attributes", "relations", "names", "questions"}


def _keys(table: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise WordingError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(allowed)}")
    missing = sorted(required - set(table))
    if missing:
        raise WordingError(f"{where}: missing required key(s) {missing}")


def _text(table: Mapping[str, Any], key: str, where: str, slots: set[str] | None = None) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or (key in table and not value.strip()):
        raise WordingError(f"{where}.{key}: must be a non-empty string")
    if value and slots is not None and template_slots(value) != slots:
        raise WordingError(f"{where}.{key}: must use exactly the slot(s) {sorted(slots)}")
    return value


def _parse_types(raw: Any, schema: Any) -> dict[str, DeepTypeWording]:
    raw = _table(raw, "types")
    _keys(raw, {t.name for t in schema.entity_types}, {t.name for t in schema.entity_types}, "types")
    out = {}
    for name, table in raw.items():
        where = f"types.{name}"
        table = _table(table, where)
        _keys(table, {"noun", "plural", "relative"}, {"noun", "plural", "relative"}, where)
        if table["relative"] not in ("who", "that"):
            raise WordingError(f"{where}.relative: 'who' or 'that'")
        out[name] = DeepTypeWording(_text(table, "noun", where), _text(table, "plural", where), table["relative"])
    return out


def _parse_attributes(raw: Any, schema: Any) -> dict[str, DeepAttributeWording]:
    specs = {a.name: a for t in schema.entity_types for a in t.attributes}
    raw = _table(raw, "attributes")
    _keys(raw, set(specs), set(specs), "attributes")
    out = {}
    for name, table in raw.items():
        where = f"attributes.{name}"
        table = _table(table, where)
        _keys(table, {"modifier", "plural", "aspect", "noun"}, {"modifier", "plural", "aspect"}, where)
        if "noun" in table and specs[name].kind != "category":
            raise WordingError(f"{where}.noun: only a category value can stand for the noun")
        out[name] = DeepAttributeWording(
            _templates(table["modifier"], f"{where}.modifier", {"v"}, set()),
            _templates(table["plural"], f"{where}.plural", {"v"}, set()),
            _text(table, "aspect", where),
            _text(table, "noun", where, {"v"}),
        )
    return out


def _parse_relations(raw: Any, schema: Any) -> dict[str, DeepRelationWording]:
    raw = _table(raw, "relations")
    names = {r.name for r in schema.relations}
    _keys(raw, names, names, "relations")
    out = {}
    for relation in schema.relations:
        where = f"relations.{relation.name}"
        table = _table(raw[relation.name], where)
        _keys(
            table,
            {"forward", "inverse", "members", "members_forward", "aspect", "inverse_aspect"},
            {"forward", "inverse"},
            where,
        )
        complete_sources = relation.inverse_list == "complete" and not relation.inverse_functional
        allowed = {
            "members": complete_sources,
            "members_forward": relation.cardinality in ("1-n", "n-n"),
            "aspect": relation.functional,
            "inverse_aspect": relation.inverse_functional and not relation.symmetric,
        }
        for key, ok in allowed.items():
            if key in table and not ok:
                raise WordingError(
                    f"{where}.{key}: never used for a {relation.cardinality} relation with "
                    f"inverse_list={relation.inverse_list!r}; remove the key"
                )
        values: dict[str, Any] = {
            "forward": _templates(table["forward"], f"{where}.forward", {"y"}, {"who"}),
            "inverse": _templates(table["inverse"], f"{where}.inverse", {"y"}, {"who"}),
        }
        for key in ("members", "members_forward"):
            if key in table:
                values[key] = _templates(table[key], f"{where}.{key}", {"x"}, set())
        for key in ("aspect", "inverse_aspect"):
            if key in table:
                values[key] = _text(table, key, where)
        out[relation.name] = DeepRelationWording(**values)
    return out


def parse_deep_wording(text: str, schema: Any, *, origin: str = "<string>") -> DeepWording:
    """Parse a ``*.deep.wording.toml`` text and check it covers ``schema`` (the key is named on error)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WordingError(f"{origin}: not valid TOML: {error}") from error
    _keys(data, _TOP_KEYS, _TOP_KEYS, origin)
    names = _table(data["names"], "names")
    _keys(names, set(_NAME_FORMS), set(_NAME_FORMS), "names")
    questions = _table(data["questions"], "questions")
    _keys(questions, set(_QUESTION_FORMS), set(_QUESTION_FORMS), "questions")
    return DeepWording(
        types=_parse_types(data["types"], schema),
        attributes=_parse_attributes(data["attributes"], schema),
        relations=_parse_relations(data["relations"], schema),
        names={key: _templates(names[key], f"names.{key}", {"v"}, set()) for key in _NAME_FORMS},
        questions={
            form: _templates(questions[form], f"questions.{form}", required, optional)
            for form, (required, optional) in _QUESTION_FORMS.items()
        },
        source_text=text,
    )
