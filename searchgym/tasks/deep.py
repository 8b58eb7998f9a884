"""Obfuscated multi-constraint candidates (BrowseComp / SailorFog-QA style), proven unique.

An obfuscated question names no entity: it describes the answer by fuzzy attributes ("released
in the late 1970s"), partial names and relations to other described entities ("directed by a
person born in a city with about three million inhabitants"). A candidate is drawn as
:mod:`searchgym.tasks.subgraph` explains — a random walk of ``relations`` edges from the
answer, then descriptors added greedily until an exhaustive count over the world leaves exactly
one assignment, then every decorative descriptor and branch pruned — and worded by
:mod:`searchgym.tasks.obfuscated`. Its *constraints* are its fuzzy descriptors (the clues
that filter candidates: 3-8 by default, as the issue's BrowseComp-like questions stack); its
*relations* are the subgraph's edges, each one more fact to find and one more entity to
identify. A candidate outside ``[min_constraints, max_constraints]`` is dropped.

Every fact a constraint reads is one evidence unit (a partial name needs none: the name is on
every page of the entity), so :mod:`searchgym.tasks.generate` proves each is stated in the
corpus exactly as for the classic types, and measures the depth of the whole description.
"""

from __future__ import annotations

import numpy as np

from searchgym.tasks.candidates import Candidate
from searchgym.tasks.obfuscated import DescriptionWriter
from searchgym.tasks.subgraph import (
    Node,
    add_descriptors,
    evidence_facts,
    prune,
    sample_tree,
    total_solutions,
)
from searchgym.world.world import World

__all__ = ["DEEP_TASK_TYPES", "ObfuscatedMaker", "relation_count", "split_paths"]

DEEP_TASK_TYPES = ("obfuscated",)


def relation_count(root: Node) -> int:
    return sum(len(node.edges) for node, _ in root.walk())


def split_paths(relations: int, rng: np.random.Generator, longest: int = 4) -> list[int]:
    """``relations`` edges as 1-3 random-walk paths of at most ``longest`` each (longest first)."""
    paths: list[int] = []
    left = relations
    while left > 0:
        length = min(left, longest, int(rng.integers(1, longest + 1)))
        paths.append(length)
        left -= length
    return sorted(paths, reverse=True)


class ObfuscatedMaker:
    """Draws obfuscated candidates of a given relation count from one world."""

    def __init__(
        self, world: World, rng: np.random.Generator, *, min_constraints: int = 3, max_constraints: int = 8
    ) -> None:
        self.world = world
        self.rng = rng
        self.writer = DescriptionWriter(world)
        self.min_constraints = min_constraints
        self.max_constraints = max_constraints
        self.entity_ids = list(world.entities)

    def tree(self, relations: int) -> Node | None:
        """A described tree of ``relations`` edges whose description fits exactly one assignment."""
        answer = self.entity_ids[int(self.rng.integers(len(self.entity_ids)))]
        root = sample_tree(self.world, answer, split_paths(relations, self.rng), self.rng)
        if root is None or relation_count(root) != relations:
            return None
        if not add_descriptors(self.world, root, self.rng, max_descriptors=self.max_constraints):
            return None
        prune(self.world, root, self.rng)
        if not self.min_constraints <= root.descriptor_count() <= self.max_constraints:
            return None
        if total_solutions(self.world, root) != 1:  # pragma: no cover - add_descriptors and prune keep it 1
            raise AssertionError("an obfuscated tree lost its unique answer")
        return root

    def candidate(self, relations: int) -> Candidate | None:
        root = self.tree(relations)
        if root is None:
            return None
        facts = evidence_facts(self.world, root)
        if not facts:
            return None
        entity = self.world.entity(root.entity)
        question = self.writer.described(root, self.rng)
        return Candidate(
            "obfuscated",
            relation_count(root),
            question,
            entity.name,
            tuple(entity.aliases),
            facts,
            [[fact.fact_id] for fact in facts],
            tuple(range(len(facts))),
            (),
            f"obfuscated:{root.type}",
            max(2, len(self.world.of_type(root.type))),
            meta={
                "answer_entity": root.entity,
                "answer_type": "entity",
                "constraints": root.descriptor_count(),
                "relations": relation_count(root),
                "tree_height": root.height(),
                "entities": sum(1 for _ in root.walk()),
                "queries": list(self.writer.parts(root)),
            },
        )
