"""Which tasks an env serves: one selection rule for the env, the exporters and the curricula.

An env serves the tasks of its config's split, task types and hop counts, in the task set's
order (that order is what ``task_index`` and exported rows' ``index`` refer to). A curriculum
stage or a sampler narrows the same pool further (hop counts, task types, difficulty tiers),
never widens it to another split: each split is its own world.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from searchgym.envs.config import EnvConfig
from searchgym.tasks.tiers import tier_of
from searchgym.types import Task

__all__ = ["served_tasks"]


def served_tasks(
    bundle: Any,
    config: EnvConfig,
    *,
    task_types: Collection[str] | None = None,
    hops: Collection[int] | None = None,
    tiers: Collection[int] | None = None,
    split: str | None = None,
    what: str | None = None,
) -> list[Task]:
    """The env's tasks, optionally narrowed; an empty selection is a one-line ``ValueError``.

    ``task_types`` / ``hops`` default to the config's (``hops=()`` in the config: any);
    ``split`` may only restate the config's; ``what`` names the caller in the error.
    """
    label = what or config.id
    if split is not None and split != config.split:
        raise ValueError(
            f"{label}: split {split!r} is not this env's split {config.split!r}; a split is its "
            f"own world, so make an env of that split instead"
        )
    types = tuple(task_types) if task_types else config.task_types
    hop_filter = tuple(hops) if hops else (config.hops or None)
    tasks = bundle.tasks.select(config.split, types, hop_filter)
    if tiers:
        wanted = set(tiers)
        tasks = [task for task in tasks if tier_of(task) in wanted]
    if not tasks:
        raise ValueError(
            f"{label}: no task matches split={config.split!r}, task_types={list(types)}, "
            f"hops={list(hop_filter or ()) or 'any'}, tiers={sorted(tiers) if tiers else 'any'}; "
            f"widen the filters or build a larger world"
        )
    return tasks
