"""Difficulty tiers 1-5 from a task's measured depth and its constraint count.

A tier says how hard a task is to *search*, not how hard its label claims it is: the depth is
the *proven* lower bound on the knowledge-free agent's ``min_searches``
(:mod:`searchgym.tasks.depth`, with the env's engine and top-k; equal to ``min_searches`` where
that is exact), never the size of a plan, which only bounds it from above; the constraint count
how many stated facts the answer must satisfy (a chain's gold facts; an obfuscated question's
descriptors plus relations). The tier is the depth band, capped by the constraint band, so a
single deep look-up does not count as deep research and a long question that one search answers
does not either:

=========  ==============  ==================
tier       proven depth    constraints (cap)
=========  ==============  ==================
1          <= 1            any
2          2-3             >= 1
3          4-5             >= 2
4          6-7             >= 3
5          >= 8            >= 5
=========  ==============  ==================

WebSailor's "level 1-2" (linear chains, every entity named) sits in tiers 1-3; BrowseComp-like
inverted questions in tiers 4-5.
"""

from __future__ import annotations

from searchgym.types import Task

__all__ = ["TIERS", "TOP_TIER_DEPTH", "constraint_count", "proven_depth", "tier", "tier_of"]

TIERS = (1, 2, 3, 4, 5)
_DEPTH_FLOORS = (0, 2, 4, 6, 8)  # the least proven depth of each tier
TOP_TIER_DEPTH = _DEPTH_FLOORS[-1]  # what the depth meter must prove of a deep task, at most
_CONSTRAINT_FLOORS = (0, 1, 2, 3, 5)  # the least constraint count of each tier


def tier(depth: int, constraints: int) -> int:
    """The tier of a task of this proven depth and constraint count."""
    by_depth = max(t for t, floor in zip(TIERS, _DEPTH_FLOORS) if depth >= floor)
    by_constraints = max(t for t, floor in zip(TIERS, _CONSTRAINT_FLOORS) if constraints >= floor)
    return min(by_depth, by_constraints)


def constraint_count(task: Task) -> int:
    """What the question states that the answer must satisfy (see the module docstring)."""
    if "constraints" in task.meta and "relations" in task.meta:
        return int(task.meta["constraints"]) + int(task.meta["relations"])
    return len(task.chain)


def proven_depth(task: Task) -> int:
    """The fewest searches the task is proven to need: its recorded lower bound, or
    ``min_searches`` where generation recorded none (then it was exact)."""
    bound = task.meta.get("depth_lower_bound")
    return task.min_searches if bound is None else int(bound)


def tier_of(task: Task) -> int:
    """A task's tier: recorded at generation for the deep families, else computed the same way."""
    if "tier" in task.meta:
        return int(task.meta["tier"])
    return tier(proven_depth(task), constraint_count(task))
