"""The world linter: every constraint of the schema, re-checked on the finished graph.

Generation enforces these rules while it samples; the linter checks the result independently
(run on every build, see :func:`searchgym.bundle.build_bundle`), so a generator bug surfaces as
a failed build with the offending edge named — never as a benchmark whose films are released
before their studio exists. The corpus linter (:mod:`searchgym.corpus.lint`) does the same for
every statement of the corpus.
"""

from __future__ import annotations

from collections import Counter

from searchgym.world.names import has_list_separator, normalize_name
from searchgym.world.world import World

__all__ = ["LintError", "lint_world", "world_violations"]

MAX_REPORTED = 12


class LintError(ValueError):
    """A built world or corpus breaks a rule of its schema; the message lists the violations."""


def world_violations(world: World) -> list[str]:
    """Every rule of the schema that the world breaks, one readable line each."""
    problems: list[str] = []
    schema = world.schema
    types = {spec.name: spec for spec in schema.entity_types}
    for entity in world.entities.values():
        spec = types.get(entity.type)
        if spec is None:
            problems.append(f"{entity.id}: unknown entity type {entity.type!r}")
            continue
        if has_list_separator(entity.name) or any(has_list_separator(alias) for alias in entity.aliases):
            problems.append(f"{entity.id}: name {entity.name!r} contains a list separator")
        missing = {a.name for a in spec.attributes} - set(entity.attributes)
        if missing:
            problems.append(f"{entity.id}: missing attribute(s) {sorted(missing)}")
    seen: dict[str, str] = {}
    for entity in world.entities.values():
        for text in (entity.name, *entity.aliases):
            key = normalize_name(text)
            if key in seen and seen[key] != entity.id:
                problems.append(f"{entity.id}: name {text!r} is not unique (also {seen[key]})")
            seen.setdefault(key, entity.id)
    edges = set(world.edges)
    for relation in schema.relations:
        mine = [(s, t) for s, r, t in world.edges if r == relation.name]
        out_degree = Counter(s for s, _ in mine)
        in_degree = Counter(t for _, t in mine)
        for source, target in mine:
            where = f"{relation.name}({source} -> {target})"
            if source == target:
                problems.append(f"{where}: self-loop")
            if world.entity(source).type != relation.source or world.entity(target).type != relation.target:
                problems.append(f"{where}: wrong entity types")
            if relation.symmetric and (target, relation.name, source) not in edges:
                problems.append(f"{where}: symmetric relation without its reverse edge")
            for constraint in relation.constraints:
                source_value = world.entity(source).attributes[constraint.source_attr]
                target_value = world.entity(target).attributes[constraint.target_attr]
                if not constraint.holds(int(source_value), int(target_value)):
                    problems.append(
                        f"{where}: {constraint.describe()} fails "
                        f"({constraint.source_attr}={source_value}, "
                        f"{constraint.target_attr}={target_value})"
                    )
            if relation.consistent_with and (source, relation.consistent_with, target) not in edges:
                problems.append(f"{where}: not consistent with {relation.consistent_with}")
        limit = 1 if relation.functional else relation.max_per_source
        for source, degree in out_degree.items():
            if degree > limit:
                problems.append(f"{relation.name}: {source} has {degree} targets (at most {limit})")
        if relation.inverse_functional:
            for target, degree in in_degree.items():
                if degree > 1:
                    problems.append(f"{relation.name}: {target} has {degree} sources (at most 1)")
    for spec in schema.entity_types:
        for attribute in spec.attributes:
            if attribute.at_least is None:
                continue
            for entity_id in world.of_type(spec.name):
                count = len(world.sources(entity_id, attribute.at_least))
                value = world.entity(entity_id).attributes[attribute.name]
                if int(value) < count:
                    problems.append(
                        f"{entity_id}: {attribute.name}={value} is below its {count} {attribute.at_least} sources"
                    )
    return problems


def lint_world(world: World) -> None:
    """Raise :class:`LintError` listing the violations, if there are any."""
    problems = world_violations(world)
    if problems:
        shown = "\n  ".join(problems[:MAX_REPORTED])
        more = f"\n  ... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        raise LintError(f"world {world.world_id} breaks its schema in {len(problems)} place(s):\n  {shown}{more}")
