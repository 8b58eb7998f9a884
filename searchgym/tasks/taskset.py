"""A set of tasks with look-ups by key, split, type and hop count."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from searchgym.cache import atomic_write_lines, stable_json
from searchgym.types import Task


class TaskSet:
    """Tasks of one world, in generation order (which is deterministic)."""

    def __init__(self, world_id: str, tasks: list[Task]) -> None:
        self.world_id = world_id
        self.tasks = list(tasks)
        self.by_key = {task.task_key: task for task in self.tasks}
        if len(self.by_key) != len(self.tasks):
            raise ValueError("duplicate task keys")

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __getitem__(self, task_key: str) -> Task:
        if not isinstance(task_key, str):  # TaskSet[0] must not fail inside its own error path
            raise KeyError(
                f"task keys are strings, got {type(task_key).__name__} {task_key!r:.80}; "
                "iterate the TaskSet or use .tasks[i] for positions"
            )
        try:
            return self.by_key[task_key]
        except KeyError:
            shown = task_key if len(task_key) <= 120 else task_key[:117] + "..."
            raise KeyError(f"unknown task_key {shown!r} for world {self.world_id}") from None

    def select(
        self,
        split: str | None = None,
        task_types: tuple[str, ...] | list[str] | None = None,
        hops: tuple[int, ...] | list[int] | None = None,
    ) -> list[Task]:
        """Tasks matching all the given filters (None means any)."""
        return [
            task
            for task in self.tasks
            if (split is None or task.split == split)
            and (task_types is None or task.task_type in task_types)
            and (hops is None or task.hops in hops)
        ]

    def jsonl_lines(self) -> Iterator[str]:
        """One canonical JSON line per task, in order (what :meth:`save` writes)."""
        return (stable_json(task.to_dict()) + "\n" for task in self.tasks)

    def to_jsonl(self) -> str:
        return "".join(self.jsonl_lines())

    def save(self, path: Path) -> None:
        atomic_write_lines(path, self.jsonl_lines())

    @classmethod
    def load(cls, path: Path, world_id: str) -> TaskSet:
        with open(path, encoding="utf-8") as handle:
            return cls(world_id, [Task.from_dict(json.loads(line)) for line in handle if line.strip()])
