"""Generate verified multi-hop questions from a world and its corpus.

Every task is built by walking the graph and then *verified* before it is kept:

* the answer is unique by graph traversal (each hop is a functional step with exactly one
  successor; an intersection has exactly one member; compared values differ), and
* every gold fact is stated by at least one passage of the corpus (provenance), so the question
  is provably answerable by search.

Tasks that fail either check are dropped. Splits are assigned by topic entity, so a test question
never names an entity that a training question names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from searchgym.cache import content_hash
from searchgym.corpus.corpus import Corpus
from searchgym.corpus.templates import format_value
from searchgym.tasks import phrases as P
from searchgym.tasks.taskset import TaskSet
from searchgym.types import Fact, HopStep, Literal, Task
from searchgym.world.world import World

TASK_TYPES = ("chain", "comparison", "bridge_comparison", "intersection", "counting")
SPLITS = ("train", "validation", "test")
TASK_FORMAT_VERSION = 2  # bump whenever generation changes: it keys the bundle cache


@dataclass(frozen=True)
class TaskOptions:
    """How many tasks of each kind to generate.

    ``per_type`` tasks are attempted for each task type; chains get that many *per hop count*
    (1..``max_hops``). ``split_fractions`` are the train/validation/test shares of topic entities.
    """

    per_type: int = 200
    max_hops: int = 4
    types: tuple[str, ...] = TASK_TYPES
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    max_count: int = 6

    def __post_init__(self) -> None:
        unknown = set(self.types) - set(TASK_TYPES)
        if unknown:
            raise ValueError(f"unknown task types {sorted(unknown)}; valid: {TASK_TYPES}")
        if not 1 <= self.max_hops <= 6:
            raise ValueError("max_hops must be in [1, 6]")
        if self.per_type < 0:
            raise ValueError("per_type must be non-negative")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-6:
            raise ValueError("split_fractions must be three shares summing to 1")

    def key(self) -> str:
        return content_hash(repr((self.per_type, self.max_hops, self.types, self.split_fractions,
                                  self.max_count, TASK_FORMAT_VERSION)))


@dataclass(frozen=True)
class _Step:
    kind: str  # "forward", "inverse" or "attribute"
    relation: str
    fact: Fact

    @property
    def result(self) -> Literal:
        if self.kind == "inverse":
            return self.fact.subject
        return self.fact.object


class TaskGenerator:
    def __init__(self, world: World, corpus: Corpus, options: TaskOptions) -> None:
        self.world = world
        self.corpus = corpus
        self.options = options
        self.rng = np.random.default_rng(int(content_hash(world.world_id, "tasks", options.key()), 16))
        self.all_ids = list(world.entities)
        self._splits: dict[str, str] = {}
        self._pools: dict[tuple[str, str | None], list[str]] = {}

    # -- splits ---------------------------------------------------------------------------
    def split_of(self, entity_id: str) -> str:
        if entity_id not in self._splits:
            draw = int(content_hash(self.world.world_id, "split", entity_id), 16) / 16 ** 16
            train, validation, _ = self.options.split_fractions
            self._splits[entity_id] = "train" if draw < train else "validation" if draw < train + validation else "test"
        return self._splits[entity_id]

    def pool(self, split: str, type_name: str | None = None) -> list[str]:
        """Entities of a split (and type): topic entities are drawn from here, so every split
        gets its share of every task type instead of rare multi-entity coincidences."""
        key = (split, type_name)
        if key not in self._pools:
            ids = self.all_ids if type_name is None else self.world.of_type(type_name)
            self._pools[key] = [e for e in ids if self.split_of(e) == split]
        return self._pools[key]

    def common_split(self, entity_ids: tuple[str, ...]) -> str | None:
        splits = {self.split_of(entity_id) for entity_id in entity_ids}
        return splits.pop() if len(splits) == 1 else None

    # -- graph steps ------------------------------------------------------------------------
    def entity_steps(self, entity_id: str) -> list[_Step]:
        """The functional steps out of an entity: each has exactly one successor."""
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

    def attribute_steps(self, entity_id: str) -> list[_Step]:
        return [_Step("attribute", fact.relation, fact) for fact in self.world.attribute_facts(entity_id)]

    def pick(self, items: list[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    # -- evidence ---------------------------------------------------------------------------
    def evidence(self, facts: list[Fact]) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]] | None:
        """Passages stating each fact, and one canonical passage per fact; None if unstated."""
        per_fact: list[tuple[str, ...]] = []
        canonical: list[str] = []
        for fact in facts:
            doc_ids = self.corpus.passages_stating(fact.fact_id)
            if not doc_ids:
                return None
            per_fact.append(tuple(doc_ids))
            own_page = [d for d in doc_ids if self.corpus[d].entity_id == fact.subject]
            canonical.append((own_page or doc_ids)[0])
        return tuple(per_fact), tuple(dict.fromkeys(canonical))

    def answer_strings(self, value: Literal, kind: str) -> tuple[str, tuple[str, ...], str]:
        """(answer, aliases, answer_type) for an entity id or a literal."""
        if kind != "attribute":
            entity = self.world.entity(str(value))
            return entity.name, tuple(entity.aliases), "entity"
        if isinstance(value, int):
            aliases = (format_value(value),) if format_value(value) != str(value) else ()
            return str(value), aliases, "number"
        return str(value), (), "category"

    def make_task(
        self,
        task_type: str,
        question: str,
        answer: str,
        aliases: tuple[str, ...],
        facts: list[Fact],
        topic: tuple[str, ...],
        meta: dict[str, Any],
    ) -> Task | None:
        split = self.common_split(topic)
        found = self.evidence(facts)
        if split is None or found is None:
            return None
        per_fact, canonical = found
        key = f"{self.world.world_id}/{task_type}/{content_hash(question, answer, length=12)}"
        return Task(
            task_key=key,
            task_type=task_type,
            question=question,
            answer=answer,
            aliases=aliases,
            hops=len(facts),
            chain=tuple(HopStep(f.subject, f.relation, f.object, f.fact_id) for f in facts),
            topic_entities=topic,
            evidence=per_fact,
            gold_passages=canonical,
            split=split,
            world_id=self.world.world_id,
            meta=meta,
        )

    # -- task types -------------------------------------------------------------------------
    def chain(self, split: str, hops: int) -> Task | None:
        if not self.pool(split):
            return None
        topic = self.pick(self.pool(split))
        visited, current, steps = {topic}, topic, []
        for index in range(hops):
            options = [s for s in self.entity_steps(current) if s.result not in visited]
            last = index == hops - 1
            if last and self.rng.random() < 0.4 or (last and not options):
                options = self.attribute_steps(current) or options
            if not options:
                return None
            step = self.pick(options)
            steps.append(step)
            if step.kind == "attribute":
                break
            current = str(step.result)
            visited.add(current)
        if len(steps) != hops:
            return None
        phrase = self.world.name(topic)
        for step in steps[:-1]:
            template = P.forward_noun(step.relation) if step.kind == "forward" else P.inverse_noun(step.relation)
            phrase = template.format(x=phrase)
        last = steps[-1]
        if last.kind == "attribute":
            question = P.attribute_question(last.relation).format(x=phrase)
        elif last.kind == "forward":
            question = P.forward_question(last.relation).format(x=phrase)
        else:
            question = P.inverse_question(last.relation).format(x=phrase)
        answer, aliases, answer_type = self.answer_strings(last.result, last.kind)
        meta = {"answer_type": answer_type, "relations": [s.relation for s in steps],
                "answer_entity": None if last.kind == "attribute" else last.result}
        return self.make_task("chain", question, answer, aliases, [s.fact for s in steps], (topic,), meta)

    def _numeric_attributes(self) -> list[tuple[str, str]]:
        return [(t.name, a.name) for t in self.world.schema.entity_types for a in t.attributes
                if a.kind in ("year", "number")]

    def _compare(self, first: str, second: str, attribute: str) -> tuple[int, str] | None:
        """(winner index, phrase) comparing the attribute of two entities; None on a tie."""
        a = self.world.entity(first).attributes.get(attribute)
        b = self.world.entity(second).attributes.get(attribute)
        if not isinstance(a, int) or not isinstance(b, int) or a == b:
            return None
        larger_wins = bool(self.rng.random() < 0.5)
        phrase = P.comparison_phrases(attribute)[0 if larger_wins else 1]
        winner = 0 if (a > b) == larger_wins else 1
        return winner, phrase

    def comparison(self, split: str) -> Task | None:
        type_name, attribute = self.pick(self._numeric_attributes())
        pool = self.pool(split, type_name)
        if len(pool) < 2:
            return None
        first, second = (pool[int(i)] for i in self.rng.choice(len(pool), size=2, replace=False))
        compared = self._compare(first, second, attribute)
        if compared is None:
            return None
        winner, phrase = compared
        names = (self.world.name(first), self.world.name(second))
        question = f"Which {P.type_noun(type_name)} {phrase}: {names[0]} or {names[1]}?"
        facts = [Fact(e, attribute, self.world.entity(e).attributes[attribute], False) for e in (first, second)]
        meta = {"answer_type": "entity", "attribute": attribute, "answer_entity": (first, second)[winner]}
        return self.make_task("comparison", question, names[winner], tuple(self.world.entity((first, second)[winner]).aliases),
                              facts, (first, second), meta)

    def bridge_comparison(self, split: str) -> Task | None:
        candidates = [(r, a) for r in self.world.schema.relations if r.functional and not r.symmetric
                      for t in self.world.schema.entity_types if t.name == r.target
                      for a in t.attributes if a.kind in ("year", "number")]
        if not candidates:
            return None
        relation, attribute = self.pick(candidates)
        pool = [e for e in self.pool(split, relation.source) if len(self.world.targets(e, relation.name)) == 1]
        if len(pool) < 2:
            return None
        first, second = (pool[int(i)] for i in self.rng.choice(len(pool), size=2, replace=False))
        bridge = (self.world.targets(first, relation.name)[0], self.world.targets(second, relation.name)[0])
        if bridge[0] == bridge[1] or set(bridge) & {first, second}:
            return None
        compared = self._compare(bridge[0], bridge[1], attribute.name)
        if compared is None:
            return None
        winner, phrase = compared
        noun = P.BRIDGE_NOUNS.get(relation.name, relation.name.replace("_", " "))
        names = (self.world.name(first), self.world.name(second))
        question = f"Which {P.type_noun(relation.source)}'s {noun} {phrase}: {names[0]} or {names[1]}?"
        facts = []
        for entity, target in zip((first, second), bridge):
            facts.append(Fact(entity, relation.name, target))
            facts.append(Fact(target, attribute.name, self.world.entity(target).attributes[attribute.name], False))
        winner_id = (first, second)[winner]
        meta = {"answer_type": "entity", "relation": relation.name, "attribute": attribute.name,
                "answer_entity": winner_id}
        return self.make_task("bridge_comparison", question, names[winner],
                              tuple(self.world.entity(winner_id).aliases), facts, (first, second), meta)

    def intersection(self, split: str) -> Task | None:
        entity = self.pick(self.all_ids)
        memberships = [(r.name, t) for r in self.world.schema.relations if not r.symmetric
                       for t in self.world.targets(entity, r.name) if self.split_of(t) == split]
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
        question = (f"Which {P.type_noun(type_name)} {P.filter_phrase(r1).format(o=self.world.name(t1))} "
                    f"and {P.filter_phrase(r2).format(o=self.world.name(t2))}?")
        answer = self.world.entity(entity)
        meta = {"answer_type": "entity", "relations": [r1, r2], "answer_entity": entity}
        return self.make_task("intersection", question, answer.name, tuple(answer.aliases),
                              [Fact(entity, r1, t1), Fact(entity, r2, t2)], (t1, t2), meta)

    def counting(self, split: str) -> Task | None:
        relations = [r for r in self.world.schema.relations if not r.symmetric and r.cardinality != "1-1"]
        if not relations:
            return None
        relation = self.pick(relations)
        if relation.cardinality == "1-n":
            pool = self.pool(split, relation.source)
            if not pool:
                return None
            entity = self.pick(pool)
            facts = [Fact(entity, relation.name, t) for t in self.world.targets(entity, relation.name)]
        else:
            pool = self.pool(split, relation.target)
            if not pool:
                return None
            entity = self.pick(pool)
            facts = [Fact(s, relation.name, entity) for s in self.world.sources(entity, relation.name)]
        if not 1 <= len(facts) <= self.options.max_count:
            return None
        count = len(facts)
        question = P.count_question(relation.name).format(x=self.world.name(entity))
        aliases = (P.NUMBER_WORDS[count],) if count < len(P.NUMBER_WORDS) else ()
        meta = {"answer_type": "number", "relation": relation.name, "answer_entity": None}
        return self.make_task("counting", question, str(count), aliases, sorted(facts), (entity,), meta)

    # -- driver -----------------------------------------------------------------------------
    def generate(self) -> TaskSet:
        tasks: dict[str, Task] = {}
        makers: list[tuple[str, Any]] = []
        for task_type in self.options.types:
            if task_type == "chain":
                makers += [(f"chain-{h}", lambda split, h=h: self.chain(split, h))
                           for h in range(1, self.options.max_hops + 1)]
            else:
                makers.append((task_type, getattr(self, task_type)))
        quotas = [round(self.options.per_type * share) for share in self.options.split_fractions]
        for _, make in makers:
            for split, quota in zip(SPLITS, quotas):
                made, attempts = 0, 0
                while made < quota and attempts < quota * 40:
                    attempts += 1
                    task = make(split)
                    if task is not None and task.task_key not in tasks:
                        assert task.split == split
                        tasks[task.task_key] = task
                        made += 1
        return TaskSet(self.world.world_id, list(tasks.values()))


def generate_tasks(world: World, corpus: Corpus, options: TaskOptions | None = None) -> TaskSet:
    """Verified tasks for ``world``; deterministic given the world, corpus and options."""
    if corpus.world_id != world.world_id:
        raise ValueError(f"corpus of {corpus.world_id} does not belong to world {world.world_id}")
    return TaskGenerator(world, corpus, options or TaskOptions()).generate()
