"""The one interface every search backend implements, and the optional members callers use.

Batched by design: RL rollouts issue many queries per step, and every backend we wrap
(bm25s, faiss, an LLM, an HTTP server) is much faster on a batch than on a loop of single calls.

An engine must have ``name``, ``search`` and ``access`` (:class:`SearchEngine`). Everything else
an env, a wrapper or a server may use is optional and declared here, each with the default that
applies when an engine lacks it; callers go through the functions below, never ``getattr``:

======================  ==========================================  ==============================
member                  what it is for                              default when absent
======================  ==========================================  ==============================
``set_context``         which task / GRPO group the next searches   nothing (results do not
                        belong to (:func:`set_context`)             depend on the episode)
``search_batch``        one ``(task_key, group_seed)`` per query,   ``search(queries, k)``; the
                        so a vector env batches several episodes    engine is not contextual
                        (:func:`search_in_contexts`)                (:func:`is_contextual`)
``passages``            the corpus it serves (server ``/health``,   None
                        :class:`~searchgym.search.noisy.NoisyEngine`)
``noise_prob``          share of noisy results a curriculum raises  a noise curriculum wraps it in
                                                                    a ``NoisyEngine`` (:func:`controls_noise`)
``last_calls``          one record per query of the last search     ``[]``
``last_spans``          text the engine generated in the last       ``[]``
                        search (self-search: what a trainer masks)
``agent_written``       True when results are text the agent wrote  False
                        (they never count as retrieved evidence)
``snapshot_state`` /    per-episode state carried by env snapshots  None / nothing
``restore_state``       and copies (:mod:`searchgym.envs.snapshot`)
======================  ==========================================  ==============================

:class:`ContextualSearchEngine` is the protocol of engines whose results depend on the episode
(the simulated engines and self-search): they declare the context members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from searchgym.types import Hit, Passage

__all__ = [
    "ContextualSearchEngine",
    "controls_noise",
    "SearchEngine",
    "SearchError",
    "UnknownDocumentError",
    "engine_passages",
    "is_contextual",
    "last_calls",
    "last_spans",
    "restore_state",
    "search_in_contexts",
    "set_context",
    "shows_agent_text",
    "snapshot_state",
]


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


@runtime_checkable
class ContextualSearchEngine(SearchEngine, Protocol):
    """An engine whose results depend on the episode (simulated search, self-search).

    ``set_context(task_key, group_seed)`` names the task and GRPO group of the next
    :meth:`search` calls; ``search_batch`` takes one such context per query (a tuple
    ``(task_key, group_seed)`` or an object with those two attributes); ``last_calls`` records
    one dict per query of the last search.
    """

    last_calls: list[dict[str, Any]]

    def set_context(self, task_key: str | None, group_seed: int = 0) -> None: ...

    def search_batch(self, queries: list[str], k: int, contexts: Sequence[Any]) -> list[list[Hit]]: ...


# -- the optional members, each with its default ------------------------------------------------
def is_contextual(engine: Any) -> bool:
    """Whether the engine's results depend on the episode (it has ``search_batch``)."""
    return callable(getattr(engine, "search_batch", None))


def set_context(engine: Any, task_key: str | None, group_seed: int) -> None:
    """Tell a contextual engine which task and group the next searches belong to (else nothing)."""
    method = getattr(engine, "set_context", None)
    if callable(method):
        method(task_key, group_seed)


def search_in_contexts(
    engine: Any, queries: list[str], k: int, contexts: Sequence[tuple[str | None, int]]
) -> list[list[Hit]]:
    """``engine.search_batch(queries, k, contexts)``, or plain ``search`` for an engine whose
    results do not depend on the episode."""
    if is_contextual(engine):
        return engine.search_batch(queries, k, contexts)
    return engine.search(queries, k)


def engine_passages(engine: Any) -> Sequence[Passage] | None:
    """The passages the engine serves, or None when it does not expose them (a remote engine)."""
    return getattr(engine, "passages", None)


def controls_noise(engine: Any) -> bool:
    """Whether the engine has a settable ``noise_prob`` (a noise curriculum drives it directly)."""
    return hasattr(engine, "noise_prob")


def last_calls(engine: Any) -> list[dict[str, Any]]:
    """The engine's records of its last search (``[]`` when it keeps none)."""
    return list(getattr(engine, "last_calls", None) or [])


def last_spans(engine: Any) -> list[tuple[str, tuple[str, ...]]]:
    """``(query, generated texts)`` of the last search of a generating engine (``[]`` otherwise)."""
    return list(getattr(engine, "last_spans", None) or [])


def shows_agent_text(engine: Any) -> bool:
    """True when the engine's results are text the agent itself wrote (self-search): they are
    shown but never count as retrieved evidence."""
    return bool(getattr(engine, "agent_written", False))


def snapshot_state(engine: Any, doc_ids: Sequence[str]) -> Any:
    """The engine's per-episode state for an env snapshot (None when it has none)."""
    method = getattr(engine, "snapshot_state", None)
    return method(doc_ids) if callable(method) else None


def restore_state(engine: Any, state: Any) -> bool:
    """Give the engine back a :func:`snapshot_state`; False when it cannot take one."""
    method = getattr(engine, "restore_state", None)
    if not callable(method):
        return False
    method(state)
    return True
