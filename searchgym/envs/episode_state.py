"""What one episode of a SearchQA env has done so far, and what it has *earned*.

Two ledgers are kept apart on purpose:

* what the agent has **seen** (``retrieved``, ``found_facts``): every passage shown to it, by a
  search or by ``<access>`` of any id. This is the ``evidence_recall`` metric, and what oracle
  agents check.
* what the agent has **searched** (``shown``, ``searched_facts``, ``evidence_text``): passages a
  search returned, and their text as the agent was shown it. Reward terms read only this ledger,
  so nothing the agent wrote (an echoed id in an error, its query in "No results found for
  query: ...") and nothing it reached by guessing a doc id (``<access>`` of an id no search
  showed) counts as retrieved evidence. Opening a shown result adds its full text to
  ``evidence_text``; its gold facts were already credited by the search that showed it.

:class:`EpisodeState` is plain data (lists, dicts, sets, a frozen task), so :meth:`copy` is a
cheap snapshot for tree rollouts and the whole state pickles.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from searchgym.cache import stable_json
from searchgym.types import Task

__all__ = ["EpisodeState", "action_text"]

_UNREADABLE = "<unreadable action of type {}>"


def action_text(action: Any, max_chars: int) -> str:
    """The transcript form of an action: the text itself, or canonical JSON of a mapping.

    Never raises, whatever the agent sent (sets, bytes, arrays, objects with hostile
    ``__repr__``, dicts with mixed key types, cycles, deep nesting), and never stores more than
    about ``max_chars`` characters: an action past the env's limit is invalid anyway, and
    keeping it whole would let one turn pin megabytes in every snapshot.
    """
    try:
        if isinstance(action, str):
            text = str.__str__(action)  # a plain str, whatever a subclass overrides
        else:
            try:
                text = stable_json(action)
            except (TypeError, ValueError, RecursionError):
                try:
                    text = json.dumps(action, ensure_ascii=False, default=repr)
                except Exception:  # noqa: BLE001 - agent input may be any object
                    text = str.__str__(repr(action))
    except Exception:  # noqa: BLE001
        text = _UNREADABLE.format(type(action).__name__)
    if len(text) > max_chars:
        text = f"{text[:max_chars]} ...[{len(text) - max_chars} more characters]"
    return text


class EpisodeState:
    """Everything that changes during an episode (reset replaces it whole)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.turn = 0
        self.done = False
        self.num_searches = 0
        self.num_accesses = 0
        self.num_invalid = 0
        self.queries: list[str] = []
        self.retrieved: dict[str, None] = {}  # ordered set of doc ids seen (searched or accessed)
        self.found_facts: set[int] = set()  # gold facts whose passage was seen
        self.shown: dict[str, None] = {}  # ordered set of doc ids a search returned
        self.searched_facts: set[int] = set()  # gold facts whose passage a search returned
        self.evidence_text: list[str] = []  # the text searches (and opened results) showed
        self.prediction: str | None = None
        self.em = 0.0
        self.f1 = 0.0
        self.transcript: list[dict[str, str]] = []

    def evidence_recall(self) -> float:
        """Share of gold facts whose evidence passage the agent has seen (searched or accessed)."""
        return len(self.found_facts) / max(1, len(self.task.evidence))

    def searched_recall(self) -> float:
        """Share of gold facts whose evidence passage a search has returned."""
        return len(self.searched_facts) / max(1, len(self.task.evidence))

    def _cover(self, doc_ids: Iterable[str], facts: set[int]) -> int:
        fresh = set(doc_ids)
        if not fresh:  # an answer or an invalid action shows nothing: no fact to test
            return 0
        before = len(facts)
        for index, passages in enumerate(self.task.evidence):
            if index not in facts and fresh.intersection(passages):
                facts.add(index)
        return len(facts) - before

    def record_docs(self, doc_ids: list[str]) -> int:
        """Remember seen docs; return how many gold facts they newly cover."""
        for doc_id in doc_ids:
            self.retrieved.setdefault(doc_id, None)
        return self._cover(doc_ids, self.found_facts)

    def record_search(self, doc_ids: list[str], texts: Iterable[str]) -> None:
        """Enter a search's results in the searched ledger (``texts``: what the agent was shown;
        empty for engines whose documents the agent itself wrote, such as self-search)."""
        for doc_id in doc_ids:
            self.shown.setdefault(doc_id, None)
        self.evidence_text.extend(texts)
        self._cover(doc_ids, self.searched_facts)

    def copy(self) -> EpisodeState:
        """An independent copy (the task, immutable, is shared)."""
        clone = EpisodeState.__new__(EpisodeState)
        clone.__dict__.update(self.__dict__)
        clone.queries = list(self.queries)
        clone.retrieved = dict(self.retrieved)
        clone.found_facts = set(self.found_facts)
        clone.shown = dict(self.shown)
        clone.searched_facts = set(self.searched_facts)
        clone.evidence_text = list(self.evidence_text)
        clone.transcript = [dict(message) for message in self.transcript]
        return clone
