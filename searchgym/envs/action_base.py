"""The parsed form of one agent turn (:class:`ParsedAction`) and what both protocols share:
the invalid-action constructor and the texts that say which actions are valid.

See :mod:`searchgym.envs.actions` for the protocols; the text one is in
:mod:`~searchgym.envs.action_text`, the tool-call one in :mod:`~searchgym.envs.action_calls`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from searchgym.envs.tools import ACCESS, ACTION_NAMES, ANSWER, SEARCH

__all__ = ["DEFAULT_MAX_CHARS", "INVALID", "THINK", "ParsedAction"]

INVALID = "invalid"
DEFAULT_MAX_CHARS = 20000
THINK = "think"

_TAG_RE = re.compile(r"<(/?)(think|search|access|answer)>", re.IGNORECASE)
_THINK_BLOCK_RE = re.compile(r"<think>(.*?)</think>", re.IGNORECASE | re.DOTALL)

_WHAT = {SEARCH: "search query", ACCESS: "document id", ANSWER: "final answer"}


@dataclass(frozen=True)
class ParsedAction:
    """One parsed agent turn.

    ``kind`` is ``"search"``, ``"access"``, ``"answer"`` or ``"invalid"``. ``argument`` is the
    query, document id or answer (for a multi-query search, the queries joined by ``"\\n"``;
    ``queries`` holds them separately and is ``(argument,)`` for a single-query search).
    ``error`` says, for an invalid action, what was wrong and what is valid. ``format_ok`` is
    the per-turn format check (see module doc); it is always False for an invalid action.
    ``protocol`` is ``"text"`` or ``"tools"`` (which protocol the agent used, so the env can
    reply in kind) or ``"unknown"`` for a value of the wrong type; ``call_id`` is the OpenAI
    tool-call id to echo in the ``tool`` reply message, when one was given.
    """

    kind: str
    argument: str = ""
    think: str | None = None
    error: str | None = None
    format_ok: bool = False
    raw_length: int = 0
    queries: tuple[str, ...] = ()
    protocol: str = "text"
    call_id: str | None = None

    @property
    def is_valid(self) -> bool:
        return self.kind != INVALID

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, for ``info`` dicts and logs."""
        data = asdict(self)
        data["queries"] = list(self.queries)
        return data


def _invalid(error: str, raw_length: int, protocol: str = "text", **kw: Any) -> ParsedAction:
    return ParsedAction(kind=INVALID, error=error, raw_length=raw_length, protocol=protocol, format_ok=False, **kw)


def _allowed(allowed_actions: Collection[str] | None) -> tuple[str, ...]:
    if allowed_actions is None:
        return ACTION_NAMES
    # An env's own setting (a tuple of names), parsed at every step, is worked out once; other
    # members are not cached (equal keys may print differently: the names are read by str()).
    if type(allowed_actions) is tuple and all(type(name) is str for name in allowed_actions):
        return _allowed_of_tuple(allowed_actions)
    return _allowed_of(allowed_actions)


def _allowed_of(allowed_actions: Collection[str]) -> tuple[str, ...]:
    wanted = {str(a).lower() for a in allowed_actions}
    return tuple(a for a in ACTION_NAMES if a in wanted)


_allowed_of_tuple = lru_cache(maxsize=256)(_allowed_of)


def _valid_forms_text(allowed: tuple[str, ...]) -> str:
    forms = {
        SEARCH: "<search> query </search>",
        ACCESS: "<access> doc_id </access>",
        ANSWER: "<answer> final answer </answer>",
    }
    items = [forms[a] for a in allowed]
    if not items:
        return "no action is allowed"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def _valid_tools(allowed: tuple[str, ...]) -> str:
    return ", ".join(allowed) if allowed else "(none)"
