"""The episodes of verl's searchgym tools: one per trajectory, in a bounded process-wide store.

Why a module of its own: the store is the one piece of state the stateless-looking ``BaseTool``
API needs (:mod:`searchgym.integrations.verl` holds the tools), and its rules (join an id that
exists for the same task, reference counts across the search and access tools, LRU eviction
past ``max_sessions`` that makes later use of the id an error) are tested on their own.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from searchgym.integrations.tool_session import ToolSession

__all__ = ["SESSIONS", "SessionStore", "UnknownInstanceError"]

_LOG = logging.getLogger("searchgym.integrations.verl")


class UnknownInstanceError(LookupError):
    """``execute`` / ``calc_reward`` for an id that was never created, or already released or
    evicted: a caller bug that would otherwise silently start a fresh, untracked episode."""


@dataclass
class _Episode:
    """One trajectory's episode: started lazily on the first call, stepped under a lock because
    verl may run several tool calls of one turn concurrently (``max_parallel_calls``)."""

    task_key: str | None
    env_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    session: ToolSession | None = None
    untracked: str | None = None  # why the episode could not start (calls then run statelessly)
    refs: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class SessionStore:
    """Bounded map instance id -> episode, shared by every searchgym tool of the process.

    Shared so that the search and access tools of one trajectory (which older verl creates under
    the same instance id) drive ONE episode; ``create`` for an existing id joins it and
    ``release`` frees it when the last tool lets go. Bounded because a trainer that never
    releases (a crash between create and release) must not grow memory without limit: past
    ``max_sessions`` the least recently used episode is evicted, and later use of its id raises
    :class:`UnknownInstanceError` instead of silently restarting.
    """

    def __init__(self, max_sessions: int = 4096) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        self.max_sessions = max_sessions
        self._episodes: OrderedDict[str, _Episode] = OrderedDict()
        self._lock = threading.Lock()

    def open(
        self, instance_id: str, task_key: str | None, env_id: str, overrides: Mapping[str, Any] | None = None
    ) -> _Episode:
        """Register ``instance_id`` (or join it when it exists for the same task)."""
        with self._lock:
            episode = self._episodes.get(instance_id)
            if episode is not None and episode.task_key == task_key:
                episode.refs += 1
                self._episodes.move_to_end(instance_id)
                return episode
            episode = self._episodes[instance_id] = _Episode(
                task_key=task_key, env_id=env_id, overrides=dict(overrides or {})
            )
            self._episodes.move_to_end(instance_id)
            while len(self._episodes) > self.max_sessions:
                evicted, _ = self._episodes.popitem(last=False)
                _LOG.warning(
                    "searchgym: evicted tool episode %s (max_sessions=%d reached; are instances released?)",
                    evicted,
                    self.max_sessions,
                )
            return episode

    def get(self, instance_id: str) -> _Episode:
        with self._lock:
            episode = self._episodes.get(instance_id)
            if episode is None:
                raise UnknownInstanceError(
                    f"unknown searchgym tool instance {instance_id!r}: call create() first (it may have been "
                    f"released, or evicted past max_sessions={self.max_sessions})"
                )
            self._episodes.move_to_end(instance_id)
            return episode

    def release(self, instance_id: str) -> None:
        """Drop one reference; idempotent, since verl releases in ``finally`` blocks."""
        with self._lock:
            episode = self._episodes.get(instance_id)
            if episode is not None:
                episode.refs -= 1
                if episode.refs <= 0:
                    del self._episodes[instance_id]

    def __len__(self) -> int:
        return len(self._episodes)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._episodes


#: The process-wide store of the searchgym tools (tool config ``max_sessions`` resizes it).
SESSIONS = SessionStore()
