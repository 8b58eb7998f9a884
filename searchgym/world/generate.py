"""Generate a World from a schema, a size and a seed.

Design choices, and why:

* One ``numpy.random.Generator(PCG64(seed))`` drives everything, consumed in a fixed order, so
  the same (schema, size, seed) yields byte-identical worlds on every machine.
* Targets are drawn with Zipf-like weights over a random ranking, giving the power-law degrees
  of real knowledge graphs (a few hub cities, many small ones).
* Cardinalities are enforced by construction: a functional relation draws exactly one target, an
  inverse-functional one is drawn from the target side, 1-1 relations are matchings. Gap
  constraints between related entities' attributes (a director is 20 to 85 years older than the
  film, a studio is founded before its films) are enforced while sampling, and counted
  attributes are raised to their counts; :mod:`searchgym.world.lint` re-checks everything.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from searchgym.types import Literal
from searchgym.world.names import NameGenerator, ReservedPhrases
from searchgym.world.schema import AttributeSpec, RelationSpec, Schema
from searchgym.world.schema_loading import load_schema
from searchgym.world.world import Entity, World

WORLD_FORMAT_VERSION = 4  # bump whenever generation changes: it keys the bundle cache
MIN_WORLD_SIZE = 20
MAX_WORLD_SIZE = 5_000_000
_REJECTION_TRIES = 24


def entity_counts(schema: Schema, size: int) -> dict[str, int]:
    """How many entities of each type a world of ``size`` gets (shares, floored at min_count)."""
    total_share = sum(spec.share for spec in schema.entity_types)
    return {spec.name: max(spec.min_count, int(round(size * spec.share / total_share))) for spec in schema.entity_types}


def _draw_attribute(rng: np.random.Generator, spec: AttributeSpec) -> Literal:
    if spec.kind == "category":
        return spec.values[int(rng.integers(len(spec.values)))]
    assert spec.min is not None and spec.max is not None
    if spec.kind == "number" and spec.min > 0 and spec.max / spec.min > 100:
        # Populations and head counts spread over orders of magnitude: draw log-uniformly.
        value = float(np.exp(rng.uniform(np.log(spec.min), np.log(spec.max))))
        return int(round(value))
    return int(rng.integers(spec.min, spec.max + 1))


class _TargetSampler:
    """Draws targets with Zipf weights over a random ranking, within an allowed value range.

    When a relation has a temporal constraint, candidates are also sorted by the constrained
    attribute, so the valid ones form a contiguous range found by binary search; a draw then
    samples that range in proportion to the Zipf weights (exactly the conditional distribution)
    in O(log n). This keeps world generation linear in size — rejecting and rescanning every
    candidate made it quadratic.
    """

    def __init__(
        self, rng: np.random.Generator, candidates: list[str], exponent: float, keys: dict[str, int] | None = None
    ) -> None:
        self._rng = rng
        ranked = [candidates[i] for i in rng.permutation(len(candidates))]
        self.candidates = ranked
        weights = (np.arange(1, len(ranked) + 1, dtype=np.float64)) ** -exponent
        if keys is None:
            order = np.arange(len(ranked))
            self._keys = None
        else:
            values = np.array([keys[c] for c in ranked], dtype=np.int64)
            order = np.argsort(values, kind="stable")
            self._keys = values[order]
        self._sorted = [ranked[i] for i in order]
        self._cdf = np.cumsum(weights[order])

    def draw(self, valid: Callable[[str], bool], low: int | None = None, high: int | None = None) -> str | None:
        """A candidate with key in [low, high] (when keys were given) that passes ``valid``."""
        lo = 0 if low is None or self._keys is None else int(np.searchsorted(self._keys, low, side="left"))
        if high is None or self._keys is None:
            hi = len(self._sorted)
        else:
            hi = int(np.searchsorted(self._keys, high, side="right"))
        if lo >= hi:
            return None
        base = float(self._cdf[lo - 1]) if lo > 0 else 0.0
        span = float(self._cdf[hi - 1]) - base
        for _ in range(_REJECTION_TRIES):
            index = int(np.searchsorted(self._cdf, base + self._rng.random() * span, side="right"))
            candidate = self._sorted[min(max(index, lo), hi - 1)]
            if valid(candidate):
                return candidate
        return None


def _reserved_phrases(schema: Schema) -> ReservedPhrases | None:
    """Every string of the schema's wording: what no invented name may be (see ReservedPhrases)."""
    if schema.wording is None:
        return None
    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                texts.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(tomllib.loads(schema.wording.source_text))
    return ReservedPhrases(texts)


class _WorldBuilder:
    def __init__(self, schema: Schema, size: int, seed: int) -> None:
        self.schema = schema
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.names = NameGenerator(self.rng, reserved=_reserved_phrases(schema))
        self.entities: dict[str, Entity] = {}
        self.by_type: dict[str, list[str]] = {}
        self.edges: list[tuple[str, str, str]] = []
        self.targets: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.sources: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.counts = entity_counts(schema, size)

    def make_entities(self) -> None:
        for spec in self.schema.entity_types:
            ids = []
            for index in range(self.counts[spec.name]):
                entity_id = f"{spec.name}_{index:06d}"
                name, aliases, look_alike_of = self.names.new(spec.name_style, spec.name_forms)
                attributes = {attr.name: _draw_attribute(self.rng, attr) for attr in spec.attributes}
                self.entities[entity_id] = Entity(entity_id, spec.name, name, aliases, attributes, look_alike_of)
                ids.append(entity_id)
            self.by_type[spec.name] = ids

    def add_edge(self, source: str, relation: RelationSpec, target: str) -> None:
        self.edges.append((source, relation.name, target))
        self.targets[(source, relation.name)].append(target)
        self.sources[(target, relation.name)].append(source)
        if relation.symmetric:
            self.edges.append((target, relation.name, source))
            self.targets[(target, relation.name)].append(source)
            self.sources[(source, relation.name)].append(target)

    def _satisfies(self, relation: RelationSpec, source: str, target: str) -> bool:
        if source == target:
            return False
        source_attrs, target_attrs = self.entities[source].attributes, self.entities[target].attributes
        return all(
            c.holds(int(source_attrs[c.source_attr]), int(target_attrs[c.target_attr])) for c in relation.constraints
        )

    def _sampler(self, relation: RelationSpec, candidates: list[str], attribute: str | None) -> _TargetSampler:
        keys = None
        if attribute is not None:
            keys = {c: int(self.entities[c].attributes[attribute]) for c in candidates}
        return _TargetSampler(self.rng, candidates, relation.degree_exponent, keys)

    @staticmethod
    def _narrow(ranges: list[tuple[int | None, int | None]]) -> tuple[int | None, int | None]:
        lows = [low for low, _ in ranges if low is not None]
        highs = [high for _, high in ranges if high is not None]
        return (max(lows) if lows else None), (min(highs) if highs else None)

    def _target_range(self, relation: RelationSpec, source: str) -> tuple[int | None, int | None]:
        """Allowed values of the target's sampled attribute (the first constraint's), given the source."""
        if not relation.constraints:
            return None, None
        key = relation.constraints[0].target_attr
        attrs = self.entities[source].attributes
        return self._narrow(
            [c.target_range(int(attrs[c.source_attr])) for c in relation.constraints if c.target_attr == key]
        )

    def _source_range(self, relation: RelationSpec, target: str) -> tuple[int | None, int | None]:
        """Allowed values of the source's sampled attribute (the first constraint's), given the target."""
        if not relation.constraints:
            return None, None
        key = relation.constraints[0].source_attr
        attrs = self.entities[target].attributes
        return self._narrow(
            [c.source_range(int(attrs[c.target_attr])) for c in relation.constraints if c.source_attr == key]
        )

    def make_relation(self, relation: RelationSpec) -> None:
        sources, targets = self.by_type[relation.source], self.by_type[relation.target]
        if relation.cardinality == "1-1":
            self._make_matching(relation, sources, targets)
        elif relation.cardinality == "1-n":
            self._make_inverse_functional(relation, sources, targets)
        else:
            self._make_forward(relation, sources, targets)

    def _make_forward(self, relation: RelationSpec, sources: list[str], targets: list[str]) -> None:
        """n-1 (exactly one target) and n-n (up to max_per_source distinct targets)."""
        key_attr = relation.constraints[0].target_attr if relation.constraints else None
        sampler = self._sampler(relation, targets, key_attr)
        order = [sources[i] for i in self.rng.permutation(len(sources))]
        # A total n-1 relation without constraints first gives every target one source, so that
        # e.g. every country has at least one city (its capital needs one).
        seeded = 0
        if relation.cardinality == "n-1" and relation.coverage >= 1.0 and not relation.constraints:
            for source, target in zip(order, sampler.candidates):
                if source != target:
                    self.add_edge(source, relation, target)
            seeded = min(len(order), len(sampler.candidates))
        for source in order[seeded:]:
            if self.rng.random() >= relation.coverage:
                continue
            wanted = 1 if relation.cardinality == "n-1" else int(self.rng.integers(1, relation.max_per_source + 1))
            chosen: list[str] = []
            low, high = self._target_range(relation, source)
            for _ in range(wanted):
                # draw calls the predicate now, inside this iteration: binding the loop variables is intended
                target = sampler.draw(
                    lambda t: t not in chosen and self._satisfies(relation, source, t),  # noqa: B023
                    low,
                    high,
                )
                if target is not None:
                    chosen.append(target)
            for target in sorted(chosen):
                self.add_edge(source, relation, target)

    def _make_inverse_functional(self, relation: RelationSpec, sources: list[str], targets: list[str]) -> None:
        """1-n: drawn from the target side, each target gets at most one source."""
        key_attr = relation.constraints[0].source_attr if relation.constraints else None
        sampler = self._sampler(relation, sources, key_attr)
        for target in targets:
            if self.rng.random() >= relation.coverage:
                continue
            low, high = self._source_range(relation, target)
            # draw calls the predicate now, inside this iteration: binding the loop variable is intended
            source = sampler.draw(
                lambda s: (
                    len(self.targets[(s, relation.name)]) < relation.max_per_source
                    and self._satisfies(relation, s, target)  # noqa: B023
                ),
                low,
                high,
            )
            if source is not None:
                self.add_edge(source, relation, target)

    def _make_matching(self, relation: RelationSpec, sources: list[str], targets: list[str]) -> None:
        used: set[str] = set()
        if relation.consistent_with is not None:
            # e.g. capital_of: the capital of a country is one of the cities located in it.
            for target in targets:
                if self.rng.random() >= relation.coverage:
                    continue
                candidates = [
                    s
                    for s in self.sources[(target, relation.consistent_with)]
                    if s not in used and self._satisfies(relation, s, target)
                ]
                if candidates:
                    source = candidates[int(self.rng.integers(len(candidates)))]
                    used.add(source)
                    self.add_edge(source, relation, target)
            return
        if relation.symmetric:
            # Partners are drawn among people of similar age (by the first constrained
            # attribute), so that an age-gap constraint does not reject most random pairs.
            chosen = [sources[i] for i in self.rng.permutation(len(sources))][: int(len(sources) * relation.coverage)]
            if relation.constraints:
                attribute = relation.constraints[0].source_attr
                chosen.sort(key=lambda e: int(self.entities[e].attributes[attribute]))
            for index in range(len(chosen) // 2):
                first, second = chosen[2 * index], chosen[2 * index + 1]
                if self._satisfies(relation, first, second) and self._satisfies(relation, second, first):
                    self.add_edge(min(first, second), relation, max(first, second))
            return
        shuffled_targets = [targets[i] for i in self.rng.permutation(len(targets))]
        shuffled_sources = [sources[i] for i in self.rng.permutation(len(sources))]
        for source, target in zip(shuffled_sources, shuffled_targets):
            if self.rng.random() < relation.coverage and self._satisfies(relation, source, target):
                self.add_edge(source, relation, target)

    def raise_counted_attributes(self) -> None:
        """Make every ``at_least`` attribute at least its relation's number of sources, so a page
        never says "12 employees" of an organization that lists 14 people working there."""
        for spec in self.schema.entity_types:
            for attribute in spec.attributes:
                if attribute.at_least is None:
                    continue
                for entity_id in self.by_type[spec.name]:
                    count = len(self.sources[(entity_id, attribute.at_least)])
                    values = self.entities[entity_id].attributes
                    if int(values[attribute.name]) < count:
                        values[attribute.name] = count

    def build(self, size: int, seed: int) -> World:
        self.make_entities()
        for relation in self.schema.relations:
            self.make_relation(relation)
        self.raise_counted_attributes()
        return World(self.schema, size, seed, list(self.entities.values()), self.edges)


def build_world(schema: Schema | str = "default", size: int = 1000, seed: int = 0) -> World:
    """Generate a deterministic world of about ``size`` entities.

    ``schema`` is a :class:`Schema`, a bundled schema name, or a path to a schema TOML file.
    """
    if isinstance(schema, str):
        schema = load_schema(schema)
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_WORLD_SIZE <= size <= MAX_WORLD_SIZE:
        raise ValueError(f"world size must be an integer in [{MIN_WORLD_SIZE}, {MAX_WORLD_SIZE}], got {size!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return _WorldBuilder(schema, size, seed).build(size, seed)
