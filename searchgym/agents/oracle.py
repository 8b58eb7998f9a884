"""The oracle: follows the gold hop chain with real searches, then answers.

It proves solvability end to end: for every gold fact it must *retrieve*, through the env's own
search engine, a passage that states the fact (evidence recall reaches 1.0), before giving the
gold answer. If no query it tries surfaces the passage, it falls back to ``<access>`` of a gold
passage id and counts that in ``accessed_fallbacks`` — a retrieval gap worth knowing about.

A long-form profile task is answered the way it is graded (:mod:`searchgym.nuggets`): every
nugget must be in a passage a *search* returned (an opened page is no citable evidence), and
the answer is the reference profile, one sentence per nugget, each citing one such passage
that states it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from searchgym.answer_forms import keeps_citations
from searchgym.tasks.profiles import profile_sentence
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
        named = isinstance(step.object, str) and step.object in world.entities
        obj = world.name(step.object) if named else str(step.object)
        return subject, obj

    def begin(self, observation: str, info: dict[str, Any], seed: int, *, env: gym.Env) -> None:
        self._env = env.unwrapped
        self._task = self._env.task
        self._fact = 0
        self._tried: list[str] = []
        self._given_up: set[int] = set()

    def _queries(self, step: HopStep) -> list[str]:
        subject, obj = self._names(step)
        queries = {"subject_object": f"{subject} {obj}", "subject": subject, "object": obj}
        return [queries[kind] for kind in self.query_order]

    def _profile(self) -> str:
        """The reference profile, each sentence citing a searched passage that states its nugget."""
        assert self._task is not None
        task, shown = self._task, self._env.state.shown
        sentences = []
        for nugget, passages in zip(task.meta["nuggets"], task.evidence):
            sentence = profile_sentence(self._env.world, task.meta["subject"], nugget)
            cited = next((d for d in passages if d in shown), None)
            sentences.append(f"{sentence[:-1]} [doc: {cited}]." if cited else sentence)
        return " ".join(sentences)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        assert self._task is not None
        state = self._env.state
        evidence = self._task.evidence
        longform = keeps_citations(self._task.meta)
        covered = state.searched_facts if longform else state.found_facts
        while self._fact < len(evidence) and (self._fact in covered or self._fact in self._given_up):
            self._fact, self._tried = self._fact + 1, []
        if self._fact >= len(evidence):
            return f"<answer>{self._profile() if longform else self._task.answer}</answer>"
        step = self._task.chain[self._fact]
        for query in self._queries(step):
            if query not in self._tried:
                self._tried.append(query)
                return f"<search>{query}</search>"
        self.accessed_fallbacks += 1
        self._tried = []
        if longform:  # an opened page is no citable evidence: that nugget stays unsupported
            self._given_up.add(self._fact)
        gold = self._task.gold_passages
        doc_id = next((d for d in evidence[self._fact] if d in gold), evidence[self._fact][0])
        return f"<access>{doc_id}</access>"
