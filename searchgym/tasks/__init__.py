"""Verified multi-hop tasks: unique answers, gold chains and gold evidence passages."""

from searchgym.tasks.generate import ALL_TASK_TYPES, SPLITS, TASK_TYPES, TaskOptions, generate_tasks
from searchgym.tasks.taskset import TaskSet

__all__ = ["ALL_TASK_TYPES", "SPLITS", "TASK_TYPES", "TaskOptions", "TaskSet", "generate_tasks"]
