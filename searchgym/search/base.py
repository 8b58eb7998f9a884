"""The one interface every search backend implements.

Batched by design: RL rollouts issue many queries per step, and every backend we wrap
(bm25s, faiss, an LLM, an HTTP server) is much faster on a batch than on a loop of single calls.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from searchgym.types import Hit, Passage


class SearchError(RuntimeError):
    """A backend failed to answer (unreachable server, bad model path, ...)."""


class UnknownDocumentError(KeyError):
    """``access`` was asked for a document id the corpus does not have."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown document id"


@runtime_checkable
class SearchEngine(Protocol):
    """Ranked retrieval over a corpus of :class:`~searchgym.types.Passage`.

    ``search`` takes a batch of queries and returns, for each, at most ``k`` hits best first.
    ``access`` returns the full passage for an id (the ``<access>`` action) and raises
    :class:`UnknownDocumentError` for an id it does not know.
    """

    name: str

    def search(self, queries: list[str], k: int) -> list[list[Hit]]: ...

    def access(self, doc_id: str) -> Passage: ...
