"""A curriculum for verifiers v1: a taskset that draws its tasks from a searchgym curriculum.

How verifiers uses a taskset (``verifiers/v1/taskset.py``, ``verifiers/v1/cli/eval/runner.py``):
``Taskset.__iter__`` enumerates ``load()`` lazily, through chainable views (``take``,
``include``, ``skip``); ``INFINITE = True`` marks a generator that never ends, which a run must
bound (``-n`` / ``take(n)``). The rollouts' results come back as ``vf.Episode`` objects (their
traces carry the rewards and the ``@vf.metric`` values) to whoever runs them: the eval runner's
``on_complete`` callback, a trainer's orchestrator. They never come back to the taskset.

So :class:`SearchGymCurriculumTaskset` is an infinite :class:`SearchGymTaskset` whose ``load()``
asks the curriculum (:class:`~searchgym.curricula.TaskSampler`) for each next task *when it is
pulled*, so tasks pulled after a promotion come from the new stage, and :meth:`observe` takes a
finished ``vf.Episode`` (or one ``vf.Trace``) and feeds the curriculum the same outcome dict the
env's final info holds: ``task_key`` (the task's stable key) and the replayed episode's
``reward``, ``em``, ``f1``, ``evidence_recall``, ``turns`` ... (the ``searchgym_*`` metrics of
:class:`SearchGymTask`). Call it where the episodes arrive (``on_complete``, the orchestrator's
result loop). A trace whose scoring did not run (a rollout error: ``metrics`` missing or
``None``) says nothing about the agent and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from searchgym.integrations.tool_session import DEFAULT_ENV_ID, make_env
from searchgym.integrations.verifiers import SearchGymTask, SearchGymTaskset, SearchGymTasksetConfig

__all__ = ["SearchGymCurriculumTaskset", "curriculum_taskset", "trace_outcome"]

_PREFIX = "searchgym_"


def trace_outcome(trace: Any) -> dict[str, Any] | None:
    """The env-style outcome of one scored v1 trace (``None`` when scoring did not run)."""
    metrics = {name[len(_PREFIX) :]: value for name, value in (trace.metrics or {}).items() if name.startswith(_PREFIX)}
    if not metrics or any(value is None for value in metrics.values()):
        return None
    rewards = trace.rewards or {}
    if any(reward is None for reward in rewards.values()):
        return None
    key = trace.task.key or getattr(trace.task.data, "task_key", None)
    return {"task_key": key, **metrics, "reward": float(trace.reward)}


class SearchGymCurriculumTaskset(SearchGymTaskset):
    """An infinite searchgym taskset served by a curriculum and fed by finished episodes.

    Args:
        config: the :class:`SearchGymTasksetConfig` (env id, split, overrides).
        curriculum: a :class:`~searchgym.curricula.TaskSampler` over this env's task keys
            (default: :meth:`StageCurriculum.for_env` by hops on the configured env).
    """

    INFINITE = True

    def __init__(self, config: SearchGymTasksetConfig, curriculum: Any = None) -> None:
        super().__init__(config)
        if curriculum is None:
            from searchgym.curricula import StageCurriculum

            curriculum = StageCurriculum.for_env(make_env(config.env_id, **config.env_overrides()))
        self.curriculum = curriculum

    def load(self) -> Iterator[SearchGymTask]:
        by_key = {record["task_key"]: record for record in self.records()}
        while True:
            key = self.curriculum.sample()
            record = by_key.get(key)
            if record is None:
                raise ValueError(
                    f"the curriculum served task {key!r}, which is not in this taskset's split "
                    f"({self.config.env_id}, split={self.config.split!r})"
                )
            yield self.task_for(record)

    def observe(self, result: Any) -> list[str | None]:
        """Feed the curriculum a finished ``vf.Episode`` (each of its traces) or one ``vf.Trace``;
        returns the curriculum's events (``"promote"`` ...), one per trace fed."""
        traces = getattr(result, "traces", None)
        events = []
        for trace in traces if traces is not None else [result]:
            outcome = trace_outcome(trace)
            if outcome is not None:
                events.append(self.curriculum.observe(outcome))
        return events


def curriculum_taskset(
    env_id: str = DEFAULT_ENV_ID, curriculum: Any = None, split: str | None = None, **overrides: Any
) -> SearchGymCurriculumTaskset:
    """:class:`SearchGymCurriculumTaskset` with ``load_environment``'s arguments (tools prompt
    by default)."""
    style = overrides.pop("prompt_style", "tools")
    config = SearchGymTasksetConfig(env_id=env_id, split=split, prompt_style=style, overrides=overrides)
    return SearchGymCurriculumTaskset(config, curriculum)
