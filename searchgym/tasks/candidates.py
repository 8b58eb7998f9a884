"""Candidate tasks of each type, built by walking the graph and checked for a unique answer.

A candidate is not yet a task: :mod:`searchgym.tasks.generate` still proves every evidence
unit is stated in the corpus, measures its depth with the real engine, and balances the
selection. Here only graph facts decide:

* **chain** (``hops`` = its length): each step is functional (exactly one successor), no entity
  is visited twice, the last step may read an attribute;
* **comparison** (1 hop: two parallel look-ups) of a numeric attribute of two named entities;
* **bridge_comparison** (2 hops): the same attribute of each named entity's unique neighbour;
* **intersection** (1 hop): the only entity linked to two named objects;
* **counting** (1 hop): the number of entities a complete list names — one evidence unit (the
  list passage), so neither the hop label nor evidence recall reveals the count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from searchgym.corpus.realize import format_value
from searchgym.tasks.questions import QuestionWriter
from searchgym.types import Fact, Literal
from searchgym.world.world import World

__all__ = ["Candidate", "CandidateMaker", "NUMBER_WORDS"]

COUNT_SHARE = 0.15  # the largest share of any count among counting tasks (audit: chance 1/8 + 0.05)
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)


@dataclass
class Candidate:
    task_type: str
    hops: int
    question: str
    answer: str
    aliases: tuple[str, ...]
    facts: list[Fact]  # the gold facts, in reasoning order
    units: list[list[str]]  # per evidence unit, the fact ids that must all be stated by one passage
    answer_units: tuple[int, ...]  # the units whose facts decide the answer
    topic_entities: tuple[str, ...]
    form: str  # the question form, for answer-prior balancing ("chain:attribute:population")
    options: int  # how many answers this form admits (a prior's chance is 1/options)
    meta: dict[str, Any] = field(default_factory=dict)
    extra_caps: tuple[tuple[str, float], ...] = ()  # further (group, largest answer share) limits


@dataclass(frozen=True)
class _Step:
    direction: str  # "forward", "inverse" or "attribute"
    relation: str
    fact: Fact

    @property
    def result(self) -> Literal:
        return self.fact.subject if self.direction == "inverse" else self.fact.object


class CandidateMaker:
    """Draws candidates of every type from one world with one random generator."""

    def __init__(self, world: World, rng: np.random.Generator, max_count: int) -> None:
        self.world = world
        self.rng = rng
        self.max_count = max_count
        assert world.schema.wording is not None
        self.writer = QuestionWriter(world.schema.wording, lambda e: world.entity(e).type)
        self.entity_ids = list(world.entities)
        self._attribute_specs = {a.name: a for t in world.schema.entity_types for a in t.attributes}
        self._pool: list[tuple[str, str]] | None = None
        self._count_values: dict[str, set[int]] = defaultdict(set)

    # -- helpers ----------------------------------------------------------------------------
    def pick(self, items: list[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def _steps(self, entity_id: str) -> list[_Step]:
        steps = []
        for relation in self.world.schema.relations:
            if relation.functional:
                targets = self.world.targets(entity_id, relation.name)
                if len(targets) == 1:
                    steps.append(_Step("forward", relation.name, Fact(entity_id, relation.name, targets[0])))
            if relation.inverse_functional and not relation.symmetric:
                sources = self.world.sources(entity_id, relation.name)
                if len(sources) == 1:
                    steps.append(_Step("inverse", relation.name, Fact(sources[0], relation.name, entity_id)))
        return steps

    def _attribute_steps(self, entity_id: str) -> list[_Step]:
        return [_Step("attribute", f.relation, f) for f in self.world.attribute_facts(entity_id)]

    def _answer(self, value: Literal, is_entity: bool) -> tuple[str, tuple[str, ...]]:
        if is_entity:
            entity = self.world.entity(str(value))
            return entity.name, tuple(entity.aliases)
        text = str(value)
        alias = format_value(value)
        return text, (alias,) if alias != text else ()

    def _options(self, attribute: str | None = None, entity_type: str | None = None) -> int:
        if entity_type is not None:
            return max(1, len(self.world.of_type(entity_type)))
        spec = self._attribute_specs[attribute] if attribute else None
        if spec is None:
            return 1
        if spec.kind == "category":
            return len(spec.values)
        assert spec.min is not None and spec.max is not None
        return spec.max - spec.min + 1

    # -- task types ---------------------------------------------------------------------------
    def chain(self, topics: list[str], hops: int) -> Candidate | None:
        topic = self.pick(topics)
        visited, current, steps = {topic}, topic, []
        for index in range(hops):
            options = [s for s in self._steps(current) if s.result not in visited]
            last = index == hops - 1
            if last and (self.rng.random() < 0.45 or not options):
                options = self._attribute_steps(current) or options
            if not options:
                return None
            step = self.pick(options)
            steps.append(step)
            if step.direction == "attribute":
                break
            current = str(step.result)
            visited.add(current)
        if len(steps) != hops:
            return None
        question = self.writer.chain(self.rng, [(s.relation, s.direction) for s in steps], self.world.name(topic))
        last = steps[-1]
        is_entity = last.direction != "attribute"
        answer, aliases = self._answer(last.result, is_entity)
        if is_entity:
            answer_type = self.world.entity(str(last.result)).type
            answer_options = self._options(entity_type=answer_type)
        else:
            answer_options = self._options(attribute=last.relation)
        facts = [s.fact for s in steps]
        return Candidate(
            "chain",
            hops,
            question,
            answer,
            aliases,
            facts,
            [[f.fact_id] for f in facts],
            (len(facts) - 1,),
            (topic,),
            f"chain:{last.direction}:{last.relation}",
            answer_options,
            {
                "answer_type": "entity" if is_entity else "value",
                "relations": [s.relation for s in steps],
                "answer_entity": str(last.result) if is_entity else None,
            },
        )

    def _numeric_attributes(self) -> list[tuple[str, str]]:
        return [
            (t.name, a.name)
            for t in self.world.schema.entity_types
            for a in t.attributes
            if a.kind in ("year", "number")
        ]

    def _winner(self, a: str, b: str, values: tuple[Any, Any], winner_first: bool) -> tuple[str, str, str, bool] | None:
        """(winner, first-named, second-named, larger-wins) of a comparison of ``values`` of
        ``a`` and ``b``; None on a tie. Which of larger/smaller wins is drawn, and the winner is
        named first exactly when ``winner_first`` (the generator alternates it)."""
        if values[0] == values[1]:
            return None
        larger = bool(self.rng.random() < 0.5)
        winner = a if (values[0] > values[1]) == larger else b
        other = b if winner == a else a
        first, second = (winner, other) if winner_first else (other, winner)
        return winner, first, second, larger

    def comparison(self, winner_first: bool) -> Candidate | None:
        type_name, attribute = self.pick(self._numeric_attributes())
        candidates = self.world.of_type(type_name)
        if len(candidates) < 2:
            return None
        a, b = (candidates[int(i)] for i in self.rng.choice(len(candidates), size=2, replace=False))
        compared = self._winner(
            a, b, (self.world.entity(a).attributes[attribute], self.world.entity(b).attributes[attribute]), winner_first
        )
        if compared is None:
            return None
        winner, first, second, larger = compared
        names = self.world.name(first), self.world.name(second)
        question = self.writer.comparison(self.rng, type_name, attribute, larger, *names)
        facts = [Fact(e, attribute, self.world.entity(e).attributes[attribute], False) for e in (first, second)]
        answer, aliases = self._answer(winner, True)
        return Candidate(
            "comparison",
            1,
            question,
            answer,
            aliases,
            facts,
            [[f.fact_id] for f in facts],
            (0, 1),
            (first, second),
            f"comparison:{attribute}:{'larger' if larger else 'smaller'}",
            2,
            {
                "answer_type": "entity",
                "attribute": attribute,
                "answer_entity": winner,
                "winner_first": winner_first,
                "option_names": list(names),
            },
        )

    def bridge_comparison(self, winner_first: bool) -> Candidate | None:
        choices = [
            (r, a)
            for r in self.world.schema.relations
            if r.functional and not r.symmetric
            for t in self.world.schema.entity_types
            if t.name == r.target
            for a in t.attributes
            if a.kind in ("year", "number")
        ]
        if not choices:
            return None
        relation, attribute = self.pick(choices)
        pool = [e for e in self.world.of_type(relation.source) if len(self.world.targets(e, relation.name)) == 1]
        if len(pool) < 2:
            return None
        a, b = (pool[int(i)] for i in self.rng.choice(len(pool), size=2, replace=False))
        bridge = {e: self.world.targets(e, relation.name)[0] for e in (a, b)}
        if bridge[a] == bridge[b] or set(bridge.values()) & {a, b}:
            return None
        compared = self._winner(
            a,
            b,
            (
                self.world.entity(bridge[a]).attributes[attribute.name],
                self.world.entity(bridge[b]).attributes[attribute.name],
            ),
            winner_first,
        )
        if compared is None:
            return None
        winner, first, second, larger = compared
        names = self.world.name(first), self.world.name(second)
        question = self.writer.bridge_comparison(
            self.rng, relation.source, relation.name, attribute.name, larger, *names
        )
        facts = []
        for entity in (first, second):
            target = bridge[entity]
            facts.append(Fact(entity, relation.name, target))
            facts.append(Fact(target, attribute.name, self.world.entity(target).attributes[attribute.name], False))
        answer, aliases = self._answer(winner, True)
        return Candidate(
            "bridge_comparison",
            2,
            question,
            answer,
            aliases,
            facts,
            [[f.fact_id] for f in facts],
            (1, 3),
            (first, second),
            f"bridge_comparison:{relation.name}:{attribute.name}:{'larger' if larger else 'smaller'}",
            2,
            {
                "answer_type": "entity",
                "relation": relation.name,
                "attribute": attribute.name,
                "answer_entity": winner,
                "winner_first": winner_first,
                "option_names": list(names),
            },
        )

    def intersection(self) -> Candidate | None:
        entity = self.pick(self.entity_ids)
        memberships = [
            (r.name, t)
            for r in self.world.schema.relations
            if r.cardinality in ("n-1", "n-n")
            for t in self.world.targets(entity, r.name)
        ]
        if len(memberships) < 2:
            return None
        picks = self.rng.choice(len(memberships), size=2, replace=False)
        (r1, t1), (r2, t2) = (memberships[int(i)] for i in sorted(picks))
        if t1 == t2:
            return None
        members = set(self.world.sources(t1, r1)) & set(self.world.sources(t2, r2))
        if members != {entity}:
            return None
        type_name = self.world.entity(entity).type
        question = self.writer.intersection(self.rng, type_name, (r1, self.world.name(t1)), (r2, self.world.name(t2)))
        facts = [Fact(entity, r1, t1), Fact(entity, r2, t2)]
        answer, aliases = self._answer(entity, True)
        return Candidate(
            "intersection",
            1,
            question,
            answer,
            aliases,
            facts,
            [[f.fact_id] for f in facts],
            (0, 1),
            (t1, t2),
            f"intersection:{type_name}",
            self._options(entity_type=type_name),
            {"answer_type": "entity", "relations": [r1, r2], "answer_entity": entity},
        )

    def _counting_pool(self) -> list[tuple[str, str]]:
        """Every (relation, entity) whose complete list has 1..max_count members, shuffled once.

        Counting candidates are drawn from this finite pool rather than at random: most
        entities have no list at all, and counts above two are rare, so random draws would
        spend the budget on misses while the balancer waits for large counts."""
        if self._pool is None:
            pool = []
            for relation in self.world.schema.relations:
                if not relation.countable:
                    continue
                counted = relation.source if relation.cardinality == "1-n" else relation.target
                for entity in self.world.of_type(counted):
                    if relation.cardinality == "1-n":
                        count = len(self.world.targets(entity, relation.name))
                    else:
                        count = len(self.world.sources(entity, relation.name))
                    if 1 <= count <= self.max_count:
                        pool.append((relation.name, entity))
                        self._count_values[relation.name].add(count)
            self._pool = [pool[int(i)] for i in self.rng.permutation(len(pool))]
        return self._pool

    def counting(self) -> Candidate | None:
        pool = self._counting_pool()
        if not pool:
            return None
        relation_name, entity = pool.pop()
        relation = self.world.relation(relation_name)
        if relation.cardinality == "1-n":
            facts = [Fact(entity, relation.name, t) for t in self.world.targets(entity, relation.name)]
        else:
            facts = [Fact(s, relation.name, entity) for s in self.world.sources(entity, relation.name)]
        count = len(facts)
        question = self.writer.counting(self.rng, relation.name, self.world.name(entity))
        aliases = (NUMBER_WORDS[count],) if count < len(NUMBER_WORDS) else ()
        facts = sorted(facts)
        # a form admits the counts this world has for it; across all counting questions the
        # most common count is held under COUNT_SHARE (the prior "always answer 1")
        return Candidate(
            "counting",
            1,
            question,
            str(count),
            aliases,
            facts,
            [[f.fact_id for f in facts]],
            (0,),
            (entity,),
            f"counting:{relation.name}",
            len(self._count_values[relation.name]),
            {"answer_type": "number", "relation": relation.name, "answer_entity": None},
            (("counting", COUNT_SHARE),),
        )
