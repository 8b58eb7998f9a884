"""The oracle: follows the gold hop chain with real searches, then answers.

It proves solvability end to end: for every gold fact it must *retrieve*, through the env's own
search engine, a passage that states the fact (evidence recall reaches 1.0), before giving the
gold answer. If no query it tries surfaces the passage, it falls back to ``<access>`` of a gold
passage id and counts that in ``accessed_fallbacks`` — a retrieval gap worth knowing about.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from searchgym.types import HopStep, Task


class OracleAgent:
    name = "oracle"
    privileged = True  # reads the gold task from the env: a ceiling, not a policy

    QUERY_KINDS = ("subject_object", "subject", "object")

    def __init__(self, query_order: tuple[str, ...] = QUERY_KINDS) -> None:
        """``query_order``: which queries to try for each gold fact, in order: ``subject_object``
        (both names: the surest hit, but the object may be the answer), ``subject`` (only a name
        the question or an earlier result revealed: what an honest policy could type, the order
        for demonstrations) and ``object``."""
        unknown = set(query_order) - set(self.QUERY_KINDS)
        if unknown or not query_order:
            raise ValueError(f"query_order must be a non-empty sequence of {self.QUERY_KINDS}, got {query_order!r}")
        self.query_order = tuple(query_order)
        self.accessed_fallbacks = 0
        self._plan: list[str] = []
        self._task: Task | None = None
        self._env: Any = None

    def _names(self, step: HopStep) -> tuple[str, str]:
        world = self._env.world
        subject = world.name(step.subject)
        obj = world.name(step.object) if isinstance(step.object, str) and step.object in world.entities else str(step.object)
        return subject, obj

    def begin(self, observation: str, info: dict[str, Any], seed: int, *, env: gym.Env) -> None:
        self._env = env.unwrapped
        self._task = self._env.task
        self._fact = 0
        self._tried: list[str] = []

    def _queries(self, step: HopStep) -> list[str]:
        subject, obj = self._names(step)
        queries = {"subject_object": f"{subject} {obj}", "subject": subject, "object": obj}
        return [queries[kind] for kind in self.query_order]

    def act(self, observation: str, info: dict[str, Any]) -> str:
        assert self._task is not None
        state = self._env.state
        evidence = self._task.evidence
        while self._fact < len(evidence) and self._fact in state.found_facts:
            self._fact, self._tried = self._fact + 1, []
        if self._fact >= len(evidence):
            return f"<answer>{self._task.answer}</answer>"
        step = self._task.chain[self._fact]
        for query in self._queries(step):
            if query not in self._tried:
                self._tried.append(query)
                return f"<search>{query}</search>"
        self.accessed_fallbacks += 1
        self._tried = []
        gold = self._task.gold_passages
        doc_id = next((d for d in evidence[self._fact] if d in gold), evidence[self._fact][0])
        return f"<access>{doc_id}</access>"
