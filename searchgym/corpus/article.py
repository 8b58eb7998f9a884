"""Plan one entity's encyclopedia article: which sentences state which facts, in which section.

An article has a lead sentence that folds several key facts together, body sentences (some
stating two facts at once, some restating a value in rounded form) and list sections naming
related entities; its infobox is shown when the page is opened (:mod:`searchgym.corpus.page`)
and is part of no search passage. The plan is made of :class:`Statement` records; rendering the
subject as a name, short name or pronoun happens when passages are packed
(:mod:`searchgym.corpus.passages`), because it depends on where a passage starts.

Layout rule (what keeps measured task depth honest). A fact on entity E's page is
*outgoing* when a question's hop leaves E through it (E's attributes, E's unique target under a
functional relation, E's unique source under an inverse-functional one) and *incoming* when a
hop arrives at E through it (a source whose unique target is E, listed on E's page). A passage
that stated both would let one search for the previous entity of a chain retrieve the next
hop too ("X is the birthplace of A" beside "X was founded in 1200"), so incoming facts are
written in list passages of their own (group ``"in"``) and never share a passage with outgoing
ones (group ``"out"``). Facts of many-to-many relations are neither; they go with the side of
the page they are written on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from searchgym.corpus.realize import Reference, approximate_number, decade_phrase, format_value, join_names
from searchgym.types import Fact
from searchgym.world.schema import RelationSpec
from searchgym.world.wording import template_slots
from searchgym.world.world import World

__all__ = ["LIST_CHUNK", "Statement", "plan_article", "reference_for"]

LIST_CHUNK = 10  # names per list sentence, so long lists still split into readable passages
COMBINE_PROBABILITY = 0.4
VAGUE_PROBABILITY = 0.35
OPENER_PROBABILITY = 0.2  # a fact sentence opens with a phrase of the wording's `fact_opener` pool
TAIL_PROBABILITY = 0.25  # ... or ends with one of its `fact_tail` pool (", according to ...")


@dataclass(frozen=True)
class Statement:
    """One sentence to write, with the facts it states and the names it uses."""

    template: str
    slots: tuple[tuple[str, str], ...]
    facts: tuple[str, ...]
    mentions: tuple[str, ...]
    section: str
    group: str  # "out" or "in" (see the module docstring)
    kind: str  # "lead", "fact", "list", "narrative"


@dataclass
class _Item:
    """A fact (or a list of facts of one relation) waiting for its sentence."""

    kind: str  # the relation or attribute name
    role: str  # "attribute", "forward", "forward_list", "inverse_one", "inverse_list", "inverse_notable"
    facts: list[Fact]
    names: list[str]  # rendered objects: entity names, or the value
    mentions: list[str]
    section: str
    group: str
    value: int | None = None  # numeric attribute value, for rounded restatements


def _choose(world: World, rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return world.schema.wording.pick(rng, options)  # type: ignore[union-attr]


def reference_for(world: World, entity_id: str, rng: np.random.Generator) -> Reference:
    """The names and pronoun a page may use for its subject (pronoun drawn once per entity)."""
    entity = world.entity(entity_id)
    wording = world.schema.wording.types[entity.type]  # type: ignore[union-attr]
    pronoun = _choose(world, rng, wording.pronouns)
    short = entity.name.split()[-1] if wording.short_name == "last_word" else entity.name
    if short != entity.name and world.names_an_entity(short):  # "Grouhe" is also a city: say it in full
        short = entity.name
    description = _choose(world, rng, wording.descriptions) if wording.descriptions else ""
    return Reference(entity.name, short, pronoun, description)


def _items(world: World, entity_id: str, rng: np.random.Generator) -> list[_Item]:
    entity = world.entity(entity_id)
    wording = world.schema.wording
    assert wording is not None
    items: list[_Item] = []
    for attribute, value in sorted(entity.attributes.items()):
        text = format_value(value)
        numeric = value if isinstance(value, int) else None
        items.append(
            _Item(
                attribute,
                "attribute",
                [Fact(entity_id, attribute, value, False)],
                [text],
                [],
                wording.attributes[attribute].section,
                "out",
                numeric,
            )
        )
    for relation in world.schema.relations:
        words = wording.relations[relation.name]
        if relation.source == entity.type:
            targets = world.targets(entity_id, relation.name)
            if targets:
                items.append(_forward_item(world, entity_id, relation, targets, words.source_section))
        if relation.target == entity.type and relation.inverse_list != "none" and not relation.symmetric:
            sources = world.sources(entity_id, relation.name)
            items.extend(_inverse_items(world, entity_id, relation, sources, words.target_section, rng))
    return items


def _forward_item(world: World, entity_id: str, relation: RelationSpec, targets: list[str], section: str) -> _Item:
    facts = [Fact(entity_id, relation.name, target) for target in targets]
    names = [world.name(target) for target in targets]
    if relation.functional:
        return _Item(relation.name, "forward", facts, names, list(targets), section, "out")
    role = "forward_list" if len(targets) > 1 else "forward"
    # 1-n: each target's unique source is this page (incoming); n-n: neither, written with the page
    group = "in" if relation.cardinality == "1-n" else "out"
    return _Item(relation.name, role, facts, names, list(targets), section, group)


def _inverse_items(
    world: World, entity_id: str, relation: RelationSpec, sources: list[str], section: str, rng: np.random.Generator
) -> list[_Item]:
    if not sources:
        return []
    if relation.inverse_functional:  # the unique source: a hop leaves this page through it
        (source,) = sources
        return [
            _Item(
                relation.name,
                "inverse_one",
                [Fact(source, relation.name, entity_id)],
                [world.name(source)],
                [source],
                section,
                "out",
            )
        ]
    if relation.inverse_list == "notable":
        picks = sorted(
            int(i) for i in rng.choice(len(sources), size=min(len(sources), relation.notable_max), replace=False)
        )
        sources = [sources[i] for i in picks]
    group = "in"  # n-1: every source's unique target is this page; n-n sources go with them
    items = []
    parts = -(-len(sources) // LIST_CHUNK)  # even chunks, so no list sentence names a single item
    bounds = np.linspace(0, len(sources), parts + 1).round().astype(int)
    for start, end in zip(bounds[:-1], bounds[1:]):
        chunk = sources[int(start) : int(end)]
        role = (
            "inverse_one"
            if len(sources) == 1
            else ("inverse_notable" if relation.inverse_list == "notable" else "inverse_list")
        )
        items.append(
            _Item(
                relation.name,
                role,
                [Fact(s, relation.name, entity_id) for s in chunk],
                [world.name(s) for s in chunk],
                list(chunk),
                section,
                group,
            )
        )
    return items


def _template_for(world: World, item: _Item, rng: np.random.Generator) -> tuple[str, dict[str, str]]:
    wording = world.schema.wording
    assert wording is not None
    if item.role == "attribute":
        return _choose(world, rng, wording.attributes[item.kind].sentences), {"v": item.names[0]}
    words = wording.relations[item.kind]
    if item.role == "forward":
        return _choose(world, rng, words.forward), {"o": item.names[0]}
    if item.role == "inverse_one":
        return _choose(world, rng, words.inverse_one), {"item": item.names[0]}
    options = {
        "forward_list": words.forward_list,
        "inverse_list": words.inverse_list,
        "inverse_notable": words.inverse_notable,
    }[item.role]
    return _choose(world, rng, options), {"items": join_names(item.names)}


def _single(item: _Item) -> bool:
    return item.role in ("attribute", "forward", "inverse_one") and len(item.facts) == 1


def _lead(world: World, entity_id: str, items: list[_Item], rng: np.random.Generator) -> tuple[Statement, set[int]]:
    """The lead sentence: a template whose fact slots this entity fills, stating those facts."""
    entity = world.entity(entity_id)
    type_wording = world.schema.wording.types[entity.type]  # type: ignore[union-attr]
    available = {
        item.kind: index
        for index, item in enumerate(items)
        if item.group == "out" and _single(item) and item.role != "inverse_one"
    }
    feasible = [t for t in type_wording.leads if {s for s in _slots(t) if s != "name"} <= set(available)]
    if not feasible:
        raise ValueError(f"no lead template of type {entity.type!r} fits {entity_id} (facts: {sorted(available)})")
    template = _choose(world, rng, tuple(feasible))
    used = {available[s] for s in _slots(template) if s != "name"}
    slots = {"name": entity.name, **{items[i].kind: items[i].names[0] for i in used}}
    facts = tuple(f.fact_id for i in sorted(used) for f in items[i].facts)
    mentions = tuple(m for i in sorted(used) for m in items[i].mentions)
    return Statement(
        template, tuple(sorted(slots.items())), facts, mentions, type_wording.sections[0], "out", "lead"
    ), used


def _slots(template: str) -> set[str]:
    return template_slots(template)


def _with_vague(world: World, item: _Item, template: str, rng: np.random.Generator) -> list[str]:
    """The exact sentence, sometimes with a rounded restatement of its value beside it — a
    parenthetical "(about 3.0 million)" for large numbers, a follow-on sentence for years
    ("... born in the late 1960s"). Never alone: the exact value is always stated with it."""
    if item.role != "attribute" or item.value is None or rng.random() >= VAGUE_PROBABILITY:
        return [template]
    spec = next(a for t in world.schema.entity_types for a in t.attributes if a.name == item.kind)
    if spec.kind == "number" and item.value >= 10000 and template.endswith("."):
        rounded = approximate_number(item.value, words=bool(rng.random() < 0.5))
        return [f"{template[:-1]} ({rounded})."]
    wording = world.schema.wording.attributes[item.kind]  # type: ignore[union-attr]
    if spec.kind == "year" and wording.vague:
        follow = _choose(world, rng, wording.vague).replace("{decade}", decade_phrase(item.value))
        return [template, follow]
    return [template]


def plan_article(world: World, entity_id: str, rng: np.random.Generator) -> tuple[Reference, list[Statement]]:
    """The reference forms and the ordered statements of ``entity_id``'s article."""
    wording = world.schema.wording
    if wording is None:
        raise ValueError(f"schema {world.schema.name!r} has no wording: load it with load_schema()")
    reference = reference_for(world, entity_id, rng)
    items = _items(world, entity_id, rng)
    lead, used = _lead(world, entity_id, items, rng)
    statements: list[Statement] = [lead]
    type_wording = wording.types[world.entity(entity_id).type]
    order = {section: index for index, section in enumerate(type_wording.sections)}
    remaining = [items[i] for i in rng.permutation(len(items)) if int(i) not in used]
    remaining.sort(key=lambda item: (item.group == "in", order.get(item.section, len(order))))
    consumed: set[int] = set()
    for index, item in enumerate(remaining):
        if index in consumed:
            continue
        consumed.add(index)
        partner = _combo_partner(world, remaining, index, consumed, rng)
        if partner is not None:
            consumed.add(partner[0])
            combined = partner[1]
            statements.append(
                Statement(
                    _decorate(world, combined.template, rng),
                    combined.slots,
                    combined.facts,
                    combined.mentions,
                    combined.section,
                    combined.group,
                    combined.kind,
                )
            )
            continue
        template, slots = _template_for(world, item, rng)
        kind = "fact" if _single(item) else "list"
        facts = tuple(f.fact_id for f in item.facts)
        # a follow-on restatement is written in the same statement, so it is never packed apart
        text = " ".join(_with_vague(world, item, template, rng))
        if kind == "fact":
            text = _decorate(world, text, rng)
        statements.append(
            Statement(text, tuple(sorted(slots.items())), facts, tuple(item.mentions), item.section, item.group, kind)
        )
    return reference, statements


def _decorate(world: World, template: str, rng: np.random.Generator) -> str:
    """Sometimes open a fact sentence with a connective ("Notably, ") or end it with a source
    (", according to parish records"), from the wording's ``fact_opener`` and ``fact_tail``
    pools when it has them: the words are the schema's, only the rates are the writer's. Neither
    states a fact, so provenance is unchanged."""
    wording = world.schema.wording
    assert wording is not None
    if "fact_opener" in wording.lexicon and rng.random() < OPENER_PROBABILITY and template.startswith("{"):
        return wording.expand("[@fact_opener]", rng) + template
    if (
        "fact_tail" in wording.lexicon
        and rng.random() < TAIL_PROBABILITY
        and template.endswith(".")
        and not template.endswith(").")
        and template.count(".") == 1
    ):
        return template[:-1] + wording.expand("[@fact_tail]", rng) + "."
    return template


def _combo_partner(
    world: World, items: list[_Item], index: int, consumed: set[int], rng: np.random.Generator
) -> tuple[int, Statement] | None:
    """A sentence stating ``items[index]`` together with another single fact of its group."""
    combos = world.schema.wording.combos  # type: ignore[union-attr]
    item = items[index]
    if not _single(item) or item.role == "inverse_one" or rng.random() >= COMBINE_PROBABILITY:
        return None
    for other_index in range(index + 1, len(items)):
        other = items[other_index]
        if other_index in consumed or not _single(other) or other.role == "inverse_one":
            continue
        if other.group != item.group:
            continue
        for first, second in ((item, other), (other, item)):
            templates = combos.get((first.kind, second.kind))
            if templates:
                template = _choose(world, rng, templates)
                slots = {first.kind: first.names[0], second.kind: second.names[0]}
                facts = tuple(f.fact_id for f in (*first.facts, *second.facts))
                mentions = (*first.mentions, *second.mentions)
                return other_index, Statement(
                    template, tuple(sorted(slots.items())), facts, mentions, item.section, item.group, "fact"
                )
    return None
