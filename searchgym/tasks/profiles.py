"""Long-form profile candidates: "Write a short profile of X covering A, B and C".

The rubric is a set of *nuggets*: 3 or 4 single-valued facts about a named entity ``X`` — its
attributes (birth year, height, occupation, ...), the unique target of a functional relation
("birthplace", "employer") or the unique source of an inverse-functional one ("mentor",
"capital") — each an evidence unit that :mod:`searchgym.tasks.generate` proves stated in the
corpus, as for every task. ``X`` must be unambiguous by name (no other entity shares its name
or an alias of it reads as it), and at least one nugget is a relation, so a profile needs more
than the lead sentence of X's page. The answer is free text graded by :mod:`searchgym.nuggets`;
the task's ``answer`` is a reference profile (one sentence per nugget, as
:func:`profile_sentence` writes it), the oracle's template.

A profile of ``hops`` >= 2 does not name its subject: it *describes* it by a path of
single-valued relations from a named anchor ("a short profile of the mentor of the employer of
X"), so the agent must first find who it is — each step is the unique target or source of its
relation, so the description picks exactly one entity. The path's facts are evidence units too
(after the nuggets: ``answer_units`` are the nuggets), and no nugget restates the question: a
path fact, or a fact whose value is an entity of the path, is never asked for. Only the depth the
meter measures decides the tier; a described profile must measure at least ``hops`` searches.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from searchgym.answer_forms import PROFILE_NOTE
from searchgym.corpus.realize import format_value
from searchgym.tasks.candidates import Candidate
from searchgym.tasks.deep import ObfuscatedMaker
from searchgym.types import Fact
from searchgym.world.world import World

__all__ = ["PROFILE_TASK_TYPES", "ProfileMaker", "nugget_of", "profile_sentence"]

PROFILE_TASK_TYPES = ("profile",)


def nugget_of(fact: Fact, subject: str, aspect: str) -> dict[str, Any]:
    """The rubric entry of ``fact`` about ``subject``: its aspect key, value and wording."""
    if not fact.is_relation:
        return {"key": fact.relation, "value": fact.object, "entity": False, "aspect": aspect, "fact_id": fact.fact_id}
    other = str(fact.object) if fact.subject == subject else fact.subject
    return {"key": fact.relation, "value": other, "entity": True, "aspect": aspect, "fact_id": fact.fact_id}


def profile_sentence(world: World, subject: str, nugget: dict[str, Any]) -> str:
    """One reference sentence for a nugget: "The birthplace of X is Y." (no citation)."""
    value = world.name(nugget["value"]) if nugget["entity"] else format_value(nugget["value"])
    return f"The {nugget['aspect']} of {world.name(subject)} is {value}."


class ProfileMaker:
    """Draws profile candidates from one world (see the module docstring)."""

    def __init__(
        self, world: World, rng: np.random.Generator, maker: ObfuscatedMaker, min_nuggets: int = 3, max_nuggets: int = 4
    ) -> None:
        self.world, self.rng, self.writer = world, rng, maker.writer
        self.min_nuggets, self.max_nuggets = min_nuggets, max_nuggets
        self.entity_ids = list(world.entities)

    def unambiguous(self, entity: str) -> bool:
        """Whether ``entity``'s name reads as that entity only (the grader's entity linker
        finds it, and nothing else, in its name)."""
        from searchgym.search.grounding import get_grounder

        mentions = get_grounder(self.world).mentions(self.world.name(entity))
        return [m.entity_id for m in mentions] == [entity]

    def aspects(self, entity: str) -> list[tuple[Fact, str]]:
        """Every single-valued fact about ``entity`` a profile can ask for, with its aspect name."""
        world, writer = self.world, self.writer
        found = [(fact, writer.aspect(fact.relation)) for fact in world.attribute_facts(entity)]
        for spec in world.schema.relations:
            words = writer.deep.relations[spec.name]
            targets, sources = world.targets(entity, spec.name), world.sources(entity, spec.name)
            if words.aspect and len(targets) == 1 and not (spec.symmetric and sources):
                found.append((Fact(entity, spec.name, targets[0]), words.aspect))
            if words.inverse_aspect and len(sources) == 1 and not spec.symmetric:
                found.append((Fact(sources[0], spec.name, entity), words.inverse_aspect))
        uses = Counter(aspect for _, aspect in found)  # two facts under one aspect name: one question
        return [(fact, aspect) for fact, aspect in found if aspect and uses[aspect] == 1]

    def described(self, hops: int) -> tuple[str, str, str, list[Fact]] | None:
        """A subject ``hops - 1`` single-valued relations away from a named anchor: the anchor,
        the subject, its description ("the mentor of the employer of X") and the path's facts;
        None when the walk meets a dead end or comes back to an entity already on the path."""
        anchor = self.entity_ids[int(self.rng.integers(len(self.entity_ids)))]
        if not self.unambiguous(anchor):
            return None
        current, phrase, path, seen = anchor, self.world.name(anchor), [], {anchor}
        for _ in range(hops - 1):
            steps = [(fact, aspect) for fact, aspect in self.aspects(current) if fact.is_relation]
            if not steps:
                return None
            fact, aspect = steps[int(self.rng.integers(len(steps)))]
            following = str(fact.object) if fact.subject == current else fact.subject
            if following in seen:
                return None
            current, phrase = following, f"the {aspect} of {phrase}"
            path.append(fact)
            seen.add(following)
        return anchor, current, phrase, path

    def candidate(self, hops: int = 1) -> Candidate | None:
        if hops >= 2:
            return self._described_candidate(hops)
        entity = self.entity_ids[int(self.rng.integers(len(self.entity_ids)))]
        options = self.aspects(entity)
        size = int(self.rng.integers(self.min_nuggets, self.max_nuggets + 1))
        if len(options) < size or not any(f.is_relation for f, _ in options) or not self.unambiguous(entity):
            return None
        return self._make(entity, entity, self.world.name(entity), options, size, [], 1)

    def _described_candidate(self, hops: int) -> Candidate | None:
        found = self.described(hops)
        if found is None:
            return None
        anchor, entity, phrase, path = found
        on_path = {fact.subject for fact in path} | {str(fact.object) for fact in path}
        path_ids = {fact.fact_id for fact in path}

        def restates(fact: Fact) -> bool:  # a path fact, or a relation back to an entity of the path
            return fact.fact_id in path_ids or (
                fact.is_relation and bool(on_path & ({fact.subject, str(fact.object)} - {entity}))
            )

        options = [(fact, aspect) for fact, aspect in self.aspects(entity) if not restates(fact)]
        size = int(self.rng.integers(self.min_nuggets, self.max_nuggets + 1))
        if len(options) < size or not any(f.is_relation for f, _ in options):
            return None
        return self._make(anchor, entity, phrase, options, size, path, hops)

    def _make(
        self,
        anchor: str,
        entity: str,
        phrase: str,
        options: list[tuple[Fact, str]],
        size: int,
        path: list[Fact],
        hops: int,
    ) -> Candidate:
        chosen = [options[int(i)] for i in self.rng.choice(len(options), size=size, replace=False)]
        if not any(f.is_relation for f, _ in chosen):
            relations = [o for o in options if o[0].is_relation]
            chosen[-1] = relations[int(self.rng.integers(len(relations)))]
        nugget_facts = [fact for fact, _ in chosen]
        nuggets = [nugget_of(fact, entity, aspect) for fact, aspect in chosen]
        question = f"{self.writer.profile(phrase, [a for _, a in chosen], self.rng)} {PROFILE_NOTE}"
        reference = " ".join(profile_sentence(self.world, entity, n) for n in nuggets)
        kind = self.world.entity(entity).type
        facts = nugget_facts + path
        return Candidate(
            "profile",
            hops,
            question,
            reference,
            (),
            facts,
            [[f.fact_id] for f in facts],
            tuple(range(len(nugget_facts))),
            (anchor,),
            f"profile:{kind}:{hops}" if path else f"profile:{kind}",
            max(2, len(self.world.of_type(kind))),
            meta={
                "answer_kind": "longform",
                "answer_type": "longform",
                "answer_entity": None,
                "subject": entity,
                "nuggets": nuggets,
                "aspects": [a for _, a in chosen],
            },
        )
