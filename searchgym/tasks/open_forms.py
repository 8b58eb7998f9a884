"""List and false-premise candidates: complete answer sets and questions nothing answers.

* **list** ("Which films directed by the mentor of X were released in the 1970s?"): the members
  of a relation with complete lists (every source of ``X``, or every target of a 1-n / n-n
  relation), optionally filtered by a fuzzy descriptor; ``X`` is named, or described by one
  functional step from a named entity (2 hops). The answer set is the world's, exactly, with
  2 to ``max_members`` members; each member's membership fact (and, filtered, each listed
  entity's attribute, which decides membership) is one evidence unit.
* **unanswerable** (a false premise): an obfuscated description (:mod:`searchgym.tasks.deep`)
  with one descriptor replaced by one its witness clearly fails
  (:func:`searchgym.tasks.fuzzy.false_descriptor`), kept only when an exhaustive count finds
  *no* entity that fits: the corpus states the whole world, so it truly cannot answer. The
  answer is the declared :data:`searchgym.answer_forms.ABSTENTION`; the evidence is what
  refutes the premise (the witness's facts, its true attribute included).
"""

from __future__ import annotations

import numpy as np

from searchgym.answer_forms import ABSTENTION, LIST_NOTE
from searchgym.tasks.candidates import Candidate
from searchgym.tasks.deep import ObfuscatedMaker, relation_count
from searchgym.tasks.fuzzy import Descriptor, describe_attribute, false_descriptor
from searchgym.tasks.subgraph import Node, evidence_facts, total_solutions
from searchgym.types import Fact
from searchgym.world.world import World

__all__ = ["OPEN_TASK_TYPES", "FalsePremiseMaker", "ListMaker"]

OPEN_TASK_TYPES = ("list", "unanswerable")


class ListMaker:
    """Draws list candidates (see the module docstring)."""

    def __init__(self, world: World, rng: np.random.Generator, maker: ObfuscatedMaker, max_members: int = 6) -> None:
        self.world, self.rng, self.writer = world, rng, maker.writer
        self.max_members = max_members
        wording = self.writer.deep.relations
        self.relations = [(r, True) for r in world.schema.relations if wording[r.name].members_forward]
        self.relations += [(r, False) for r in world.schema.relations if wording[r.name].members]
        self.attributes = {t.name: t.attributes for t in world.schema.entity_types}

    def _members(self, relation: str, forward: bool, subject: str) -> list[str]:
        return self.world.targets(subject, relation) if forward else self.world.sources(subject, relation)

    def _subject(self, entity: str) -> tuple[str, list[Fact]]:
        """``entity`` named, or (half the time) as "the <aspect> of <named>" through a functional step."""
        if self.rng.random() < 0.5:
            steps = []
            for spec in self.world.schema.relations:
                wording = self.writer.deep.relations[spec.name]
                if wording.aspect and spec.functional:  # Y --relation--> entity, Y's unique target
                    steps += [(spec.name, wording.aspect, y) for y in self.world.sources(entity, spec.name)]
            if steps:
                relation, aspect, y = steps[int(self.rng.integers(len(steps)))]
                return f"the {aspect} of {self.world.name(y)}", [Fact(y, relation, entity)]
        return self.world.name(entity), []

    def _filter(self, members: list[str], member_type: str) -> tuple[Descriptor, list[str]] | None:
        """A descriptor of one member's attribute that admits between 1 and all but one of them."""
        specs = [a for a in self.attributes[member_type] if a.kind != "category" or len(a.values) > 1]
        for _ in range(4):
            spec = specs[int(self.rng.integers(len(specs)))] if specs else None
            witness = self.world.entity(members[int(self.rng.integers(len(members)))])
            if spec is None or spec.name not in witness.attributes:
                continue
            descriptor = describe_attribute(spec, witness.attributes[spec.name], self.rng)
            entities = [self.world.entity(m) for m in members]
            if any(spec.name not in e.attributes for e in entities):
                continue
            # members on the edge of the loose reading would make the set ambiguous: none allowed
            if any(descriptor.admits(e) != descriptor.admits(e, strict=True) for e in entities):
                continue
            kept = [m for m, e in zip(members, entities) if descriptor.admits(e, strict=True)]
            if 1 <= len(kept) < len(members):
                return descriptor, kept
        return None

    def candidate(self) -> Candidate | None:
        relation, forward = self.relations[int(self.rng.integers(len(self.relations)))]
        subjects = self.world.of_type(relation.source if forward else relation.target)
        subject = subjects[int(self.rng.integers(len(subjects)))]
        members = self._members(relation.name, forward, subject)
        if not 2 <= len(members) <= self.max_members:
            return None
        phrase, steps = self._subject(subject)
        facts = list(steps) + [
            Fact(subject, relation.name, m) if forward else Fact(m, relation.name, subject) for m in sorted(members)
        ]
        descriptor = None
        answer_members = sorted(members)
        if self.rng.random() < 0.5:
            chosen = self._filter(answer_members, relation.target if forward else relation.source)
            if chosen is not None:
                descriptor, answer_members = chosen
                facts += [
                    Fact(m, descriptor.attribute, self.world.entity(m).attributes[descriptor.attribute], False)
                    for m in sorted(members)
                ]
        question = f"{self.writer.list_question(relation.name, forward, phrase, self.rng, descriptor)} {LIST_NOTE}"
        names = [self.world.name(m) for m in answer_members]
        hops = 1 + len(steps)
        return Candidate(
            "list",
            hops,
            question,
            "; ".join(names),
            (),
            facts,
            [[f.fact_id] for f in facts],
            tuple(range(len(steps), len(facts))),
            (steps[0].subject,) if steps else (subject,),
            f"list:{relation.name}:{int(forward)}",
            max(2, len(subjects)),
            meta={
                "answer_kind": "list",
                "answer_type": "list",
                "answer_entities": answer_members,
                "answer_set": [[self.world.name(m), *self.world.entity(m).aliases] for m in answer_members],
                "answer_entity": None,
                "filtered": descriptor is not None,
            },
        )


class FalsePremiseMaker:
    """Draws false-premise candidates from obfuscated trees (see the module docstring)."""

    def __init__(self, world: World, rng: np.random.Generator, maker: ObfuscatedMaker) -> None:
        self.world, self.rng, self.maker = world, rng, maker

    def tree(self, relations: int) -> tuple[Node, Descriptor] | None:
        """An obfuscated tree with one descriptor falsified so that no entity fits, and that
        descriptor; None when the draw fails."""
        root = self.maker.tree(relations)
        if root is None:
            return None
        described = [(node, d) for node, _ in root.walk() for d in node.descriptors if not d.is_name]
        if not described:
            return None
        node, true = described[int(self.rng.integers(len(described)))]
        spec = next(a for a in self.world.schema.entity_type(node.type).attributes if a.name == true.attribute)
        others = [self.world.entity(e) for e in self.world.of_type(node.type) if e != node.entity]
        false = false_descriptor(spec, self.world.entity(node.entity), others, self.rng)
        if false is None:
            return None
        node.descriptors[node.descriptors.index(true)] = false
        if total_solutions(self.world, root) != 0:  # another entity fits the altered description
            return None
        return root, false

    def candidate(self, relations: int) -> Candidate | None:
        drawn = self.tree(relations)
        if drawn is None:
            return None
        root, false = drawn
        facts = evidence_facts(self.world, root)  # the false descriptor reads the witness's true value
        question = self.maker.writer.described(root, self.rng)
        return Candidate(
            "unanswerable",
            relation_count(root),
            question,
            ABSTENTION,
            (),
            facts,
            [[f.fact_id] for f in facts],
            tuple(range(len(facts))),
            (),
            f"unanswerable:{root.type}",
            1,
            meta={
                "answer_kind": "unanswerable",
                "answer_type": "abstention",
                "answer_entity": None,
                "constraints": root.descriptor_count(),
                "relations": relation_count(root),
                "false_descriptor": false.phrase,
                "queries": list(self.maker.writer.parts(root)),
            },
        )
