"""The audit per difficulty tier: size, re-measured depth and whether each tier label holds.

A tier label (:mod:`searchgym.tasks.tiers`) is a claim made at generation; the audit recomputes
the tier from the depth it measures itself, with the env's engine and top-k, and reports per
labelled tier the distribution of ``min_searches`` (the minimal plan found), of its proven lower
bound, and the share of tasks whose re-measured tier (from the proven bound, as at generation)
is at least their label (for the tasks
that record one, the deep families; a classic task's tier is computed from its depth anyway).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from searchgym.tasks.depth import Depth
from searchgym.tasks.tiers import constraint_count, tier, tier_of
from searchgym.types import Task

__all__ = ["tier_report"]


def _distribution(values: list[int | None]) -> dict[str, int]:
    counts = Counter(values)
    return {str(k): counts[k] for k in sorted(counts, key=lambda k: (k is None, k or 0))}


def tier_report(tasks: Sequence[Task], depths: Sequence[Depth]) -> dict[str, Any]:
    """Per labelled tier: tasks, min_searches and lower-bound distributions, label held share."""
    by_tier: dict[int, list[tuple[Task, Depth]]] = defaultdict(list)
    for task, depth in zip(tasks, depths):
        by_tier[tier_of(task)].append((task, depth))
    out: dict[str, Any] = {}
    for label, rows in sorted(by_tier.items()):
        measured = [d.min_searches for _, d in rows]
        lower = [d.lower_bound for _, d in rows]
        labelled = [(t, d) for t, d in rows if "tier" in t.meta]
        held = sum(
            1
            for t, d in labelled
            if d.lower_bound is not None  # the proven depth, not a plan
            and tier(d.lower_bound, constraint_count(t)) >= label
        )
        known = [m for m in measured if m is not None]
        out[str(label)] = {
            "tasks": len(rows),
            "min_searches": _distribution(measured),
            "lower_bound": _distribution(lower),
            "min_searches_least": min(known) if known else None,
            "min_searches_mean": sum(known) / len(known) if known else None,
            "constraints_mean": sum(constraint_count(t) for t, _ in rows) / len(rows),
            "label_held": held / len(labelled) if labelled else None,
        }
    return out
