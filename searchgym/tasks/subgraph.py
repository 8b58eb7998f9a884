"""Description trees: the answer's neighbourhood, described, and an exact count of what fits it.

An obfuscated question is a tree rooted at the answer. Each node stands for an entity (the gold
*witness*) of a type, carries fuzzy descriptors (:mod:`searchgym.tasks.fuzzy`) and reaches other
nodes through relations ("directed by a painter who ..."). A node may instead be *named* (a
premise question's "... who mentored X"). Reading the question is solving the tree: an
assignment maps every node to an entity of its type that satisfies its descriptors (their loose
reading) and is linked to its children's entities by their relations.

:func:`count_solutions` counts every assignment exhaustively over the world (bottom-up, one pass
per node, exact integers), so "the answer is unique" is a proof, not a sample: a question is
kept only when exactly one assignment exists, which makes both the answer and every described
entity on the way (hence the gold evidence) unique. :func:`sample_tree` grows the tree by a
random walk from the answer and :func:`add_descriptors` describes it until that count is 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from searchgym.tasks.fuzzy import Descriptor, describe_attribute, describe_name
from searchgym.types import Fact
from searchgym.world.world import World

__all__ = ["Edge", "Node", "add_descriptors", "count_solutions", "evidence_facts", "prune", "sample_tree"]


@dataclass
class Edge:
    relation: str
    forward: bool  # True: the parent is the relation's source (parent --relation--> child)
    child: Node


@dataclass
class Node:
    entity: str  # the gold witness
    type: str
    descriptors: list[Descriptor] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    named: bool = False  # the question names this entity instead of describing it

    def walk(self, depth: int = 0) -> Iterator[tuple[Node, int]]:
        """Every node of the subtree with its depth, parents first."""
        yield self, depth
        for edge in self.edges:
            yield from edge.child.walk(depth + 1)

    def height(self) -> int:
        return max((1 + edge.child.height() for edge in self.edges), default=0)

    def constraints(self) -> int:
        """Descriptors plus relations of the subtree (what the question states about it)."""
        return sum(len(node.descriptors) + len(node.edges) for node, _ in self.walk())

    def descriptor_count(self) -> int:
        """The fuzzy descriptors of the subtree (attribute readings and partial names)."""
        return sum(len(node.descriptors) for node, _ in self.walk())


def neighbours(world: World, entity: str, relation: str, forward: bool) -> list[str]:
    return world.targets(entity, relation) if forward else world.sources(entity, relation)


def signature(node: Node) -> tuple:
    """What a subtree's solution counts depend on (its witnesses, descriptors and shape)."""
    return (
        node.entity,
        node.type,
        node.named,
        tuple(d.key() for d in node.descriptors),
        tuple((edge.relation, edge.forward, signature(edge.child)) for edge in node.edges),
    )


def count_solutions(
    world: World, node: Node, admitted: Callable[[Node], set[str] | None] | None = None
) -> dict[str, int]:
    """For each entity the root may be, how many full assignments of the tree it has.

    ``admitted(node)`` may give a precomputed set of the node's admitted entities (the generator
    caches them, and the counts of unchanged subtrees in its ``memo``); by default they are
    computed from the node's descriptors."""
    memo: dict[tuple, dict[str, int]] | None = getattr(admitted, "memo", None)
    key = signature(node) if memo is not None else None
    if memo is not None and key in memo:
        return memo[key]
    if node.named:
        candidates: set[str] | list[str] = {node.entity}
    else:
        candidates = admitted(node) if admitted is not None else None  # type: ignore[assignment]
        if candidates is None:
            candidates = [
                e for e in world.of_type(node.type) if all(d.admits(world.entity(e)) for d in node.descriptors)
            ]
    children = [(edge, count_solutions(world, edge.child, admitted)) for edge in node.edges]
    out: dict[str, int] = {}
    for entity in sorted(candidates):
        total = 1
        for edge, counts in children:
            total *= sum(counts.get(n, 0) for n in neighbours(world, entity, edge.relation, edge.forward))
            if not total:
                break
        if total:
            out[entity] = total
    if memo is not None and key is not None:
        memo[key] = out
    return out


def total_solutions(world: World, root: Node, admitted: Callable[[Node], set[str] | None] | None = None) -> int:
    return sum(count_solutions(world, root, admitted).values())


def _steps(world: World, entity: str, taken: set[str]) -> list[tuple[str, bool, str]]:
    """Every (relation, forward, neighbour) leaving ``entity`` towards an entity not in ``taken``."""
    steps = []
    for relation in world.schema.relations:
        entity_type = world.entity(entity).type
        if relation.source == entity_type:
            steps += [(relation.name, True, t) for t in world.targets(entity, relation.name) if t not in taken]
        if relation.target == entity_type and not relation.symmetric:
            steps += [(relation.name, False, s) for s in world.sources(entity, relation.name) if s not in taken]
    return steps


def sample_tree(world: World, answer: str, paths: list[int], rng: np.random.Generator) -> Node | None:
    """A tree rooted at ``answer`` with one random-walk path of each length in ``paths`` (no
    entity twice). Relations are drawn first, then a neighbour, so rare relations are not
    drowned by frequent ones. None when a walk gets stuck."""
    root = Node(answer, world.entity(answer).type)
    taken = {answer}
    for length in paths:
        node = root
        for _ in range(length):
            steps = _steps(world, node.entity, taken)
            if not steps:
                return None
            relations = sorted({(r, f) for r, f, _ in steps})
            relation, forward = relations[int(rng.integers(len(relations)))]
            options = [n for r, f, n in steps if (r, f) == (relation, forward)]
            entity = options[int(rng.integers(len(options)))]
            child = Node(entity, world.entity(entity).type)
            node.edges.append(Edge(relation, forward, child))
            taken.add(entity)
            node = child
    return root


class _Admitted:
    """Admitted-entity sets per node, cached per descriptor (the greedy loop re-counts often)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._by_descriptor: dict[tuple[str, tuple], frozenset[str]] = {}
        self.memo: dict[tuple, dict[str, int]] = {}  # solution counts per subtree signature

    def of(self, descriptor: Descriptor, type_name: str) -> frozenset[str]:
        key = (type_name, descriptor.key())
        found = self._by_descriptor.get(key)
        if found is None:
            found = frozenset(e for e in self.world.of_type(type_name) if descriptor.admits(self.world.entity(e)))
            self._by_descriptor[key] = found
        return found

    def __call__(self, node: Node) -> set[str] | None:
        if not node.descriptors:
            return set(self.world.of_type(node.type))
        sets = [self.of(d, node.type) for d in node.descriptors]
        return set(frozenset.intersection(*sets))


def _pool(world: World, root: Node, rng: np.random.Generator) -> list[tuple[Node, int, Descriptor]]:
    """One drawn descriptor per attribute of every described node, and one partial name."""
    pool = []
    for node, depth in root.walk():
        if node.named:
            continue
        entity = world.entity(node.entity)
        spec = world.schema.entity_type(node.type)
        for attribute in spec.attributes:
            if attribute.name in entity.attributes:
                pool.append((node, depth, describe_attribute(attribute, entity.attributes[attribute.name], rng)))
        pool.append((node, depth, describe_name(entity, node.type == "person", rng)))
    return pool


def add_descriptors(
    world: World,
    root: Node,
    rng: np.random.Generator,
    *,
    max_descriptors: int,
    far_bias: float = 0.7,
    name_share: float = 0.15,
) -> bool:
    """Describe the tree greedily until exactly one assignment fits (True) or the constraint
    budget (``max_descriptors``) runs out (False). Each round adds a descriptor that shrinks the count, preferring
    (with probability ``far_bias``) the deepest nodes that can: descriptions far from the answer
    are what make a search agent walk the whole tree. Partial names are used sparingly."""
    admitted = _Admitted(world)
    pool = _pool(world, root, rng)
    total = total_solutions(world, root, admitted)
    while total > 1:
        if root.descriptor_count() >= max_descriptors:
            return False
        options = []
        for index, (node, depth, descriptor) in enumerate(pool):
            if descriptor.is_name and rng.random() >= name_share:
                continue
            node.descriptors.append(descriptor)
            count = total_solutions(world, root, admitted)
            node.descriptors.pop()
            if count < total:
                options.append((count, depth, index))
        if not options:
            return False
        if rng.random() < far_bias:
            deepest = max(depth for _, depth, _ in options)
            options = [o for o in options if o[1] == deepest]
        best = min(count for count, _, _ in options)
        near_best = [o for o in options if o[0] <= max(best, 1) * 2]
        _, _, index = near_best[int(rng.integers(len(near_best)))]
        node, _, descriptor = pool.pop(index)
        node.descriptors.append(descriptor)
        total = total_solutions(world, root, admitted)
    return total == 1


def prune(world: World, root: Node, rng: np.random.Generator) -> None:
    """Drop every descriptor, then every leaf branch, whose removal keeps the answer unique (a
    decorative constraint says nothing the rest does not already decide)."""
    admitted = _Admitted(world)
    described = [(node, d) for node, _ in root.walk() for d in node.descriptors]
    for index in rng.permutation(len(described)):
        node, descriptor = described[int(index)]
        node.descriptors.remove(descriptor)
        if total_solutions(world, root, admitted) != 1:
            node.descriptors.append(descriptor)
    changed = True
    while changed:
        changed = False
        for node, _ in list(root.walk()):
            for edge in list(node.edges):
                if edge.child.edges or edge.child.descriptors or edge.child.named:
                    continue
                node.edges.remove(edge)
                if total_solutions(world, root, admitted) == 1:
                    changed = True
                else:
                    node.edges.append(edge)


def evidence_facts(world: World, root: Node) -> list[Fact]:
    """The gold facts: every relation of the tree and every attribute a descriptor reads, in
    reading order (a partial name needs no fact: every page of the entity shows its name)."""
    facts = []
    for node, _ in root.walk():
        entity = world.entity(node.entity)
        for descriptor in node.descriptors:
            if not descriptor.is_name:
                facts.append(Fact(node.entity, descriptor.attribute, entity.attributes[descriptor.attribute], False))
        for edge in node.edges:
            source, target = (node.entity, edge.child.entity) if edge.forward else (edge.child.entity, node.entity)
            facts.append(Fact(source, edge.relation, target))
    return facts
