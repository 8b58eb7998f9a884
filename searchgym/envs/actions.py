"""Parse one agent turn into an action: ``search``, ``access``, ``answer`` or ``invalid``.

Two protocols are accepted by the same function, so one environment serves both tag-trained
(Search-R1, ZeroSearch, ASearcher) and tool-calling models.

Text protocol (Search-R1 / ASearcher tags)
-------------------------------------------
``<search> query </search>``, ``<access> doc_id </access>``, ``<answer> text </answer>``,
optionally preceded by ``<think> ... </think>``. Tag names are case-insensitive; arguments are
whitespace-trimmed; no spaces or attributes are allowed inside the angle brackets.

Which action runs: **the action tag whose closing tag comes first in the text**, i.e. the
first complete action. This is what Search-R1's rollout does in practice: it stops generation
at the first ``</search>`` (or ``</answer>``) and its ``postprocess_predictions`` takes the
first ``<(search|answer)>(.*?)</\\1>`` match. Choosing by the first *closing* tag makes the
result the same whether or not the trainer used stop strings: the action parsed from a full
response equals the one parsed from the response cut right after its first closing action tag.
(Search-R1's *reward* uses the last ``<answer>`` of the whole transcript; that is a scoring
rule over a finished episode, not a per-turn step rule, and is not used here.)

Consequences, all documented by tests:

* ``<search>a</search><answer>b</answer>`` runs the search; ``format_ok`` is False.
* An action written inside ``<think>`` runs too (a stop string would have cut there), with
  ``format_ok`` False.
* Tags nested inside the executed action (``<search>a <think>b</think></search>``), a closing
  tag of another kind (``<search>a</answer>``), a closing tag with no opening one, an unclosed
  tag, an empty argument, no tag at all, or an input over ``max_chars`` give ``invalid`` with a
  human-readable ``error`` saying what is valid.
* An earlier opening tag that is never closed (``<answer>maybe <search>q</search>``) does not
  block the complete action after it (Search-R1's regex behaves the same); ``format_ok`` is False.

``format_ok`` is Search-R1's format rule for one turn: optional ``<think>…</think>``, then
exactly one action tag, nothing but whitespace outside the tags, no tags inside them.

The tag scanner is a single linear ``re.finditer`` over a pattern with no nested quantifiers,
and inputs longer than ``max_chars`` are rejected before any scanning, so adversarial inputs
(megabytes of ``<``, thousands of unclosed tags) cannot make parsing slow.

Structured protocol (OpenAI tool calls)
---------------------------------------
* ``{"name": "search", "arguments": {"query": "..."}}`` (``arguments`` may be a JSON string, as
  OpenAI returns it, or a mapping);
* one OpenAI tool-call item ``{"id": ..., "type": "function", "function": {"name", "arguments"}}``;
* an OpenAI assistant message ``{"role": "assistant", "content": ..., "tool_calls": [...]}``
  (or the legacy ``function_call``). If it has no tool calls, its ``content`` is parsed with
  the text protocol. With several tool calls the first runs and ``format_ok`` is False: the
  environment takes one action per step.

Tools and arguments (see :mod:`searchgym.envs.tools`): ``search(query: str)`` or verl's
``search(query_list: list[str])`` (then ``queries`` holds every query and ``argument`` is them
joined by newlines), ``access(doc_id: str)``, ``answer(answer: str)``. Unknown extra arguments
are ignored. Bad JSON, unknown tools, missing or mistyped arguments give ``invalid``; this
module never raises on agent input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from dataclasses import replace as _replace
from typing import Any, NamedTuple

from searchgym.envs.tools import (
    ACCESS,
    ACTION_NAMES,
    ANSWER,
    ANSWER_ARG,
    DOC_ID_ARG,
    QUERY_ARG,
    QUERY_LIST_ARG,
    SEARCH,
)

__all__ = ["ParsedAction", "parse_action", "INVALID", "DEFAULT_MAX_CHARS"]

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
    return ParsedAction(
        kind=INVALID, error=error, raw_length=raw_length, protocol=protocol, format_ok=False, **kw
    )


def _allowed(allowed_actions: Collection[str] | None) -> tuple[str, ...]:
    if allowed_actions is None:
        return ACTION_NAMES
    wanted = {str(a).lower() for a in allowed_actions}
    return tuple(a for a in ACTION_NAMES if a in wanted)


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


# --------------------------------------------------------------------------- text protocol


class _Tag(NamedTuple):
    start: int
    end: int
    closing: bool
    name: str


def _parse_text(text: str, allowed: tuple[str, ...], max_chars: int) -> ParsedAction:
    n = len(text)
    if n > max_chars:
        return _invalid(
            f"the action is {n} characters long; the limit is {max_chars}. "
            f"Write one short action: {_valid_forms_text(allowed)}.",
            n,
        )

    tags: list[_Tag] = []
    close_idx: int | None = None
    for m in _TAG_RE.finditer(text):
        name = m.group(2).lower()
        if name != THINK and name not in allowed:
            continue  # a disallowed action tag is plain text
        tags.append(_Tag(m.start(), m.end(), bool(m.group(1)), name))
        if close_idx is not None:
            break  # one tag past the action is enough to know the format is broken
        if tags[-1].closing and name != THINK:
            close_idx = len(tags) - 1

    if close_idx is None:
        opened = next((t for t in tags if not t.closing and t.name != THINK), None)
        if opened is not None:
            return _invalid(
                f"the <{opened.name}> tag is not closed; end it with </{opened.name}>.", n
            )
        return _invalid(f"no action found. Write {_valid_forms_text(allowed)}.", n)

    close = tags[close_idx]
    open_idx = next(
        (i for i in range(close_idx - 1, -1, -1) if not tags[i].closing and tags[i].name != THINK),
        None,
    )
    if open_idx is None:
        return _invalid(
            f"found </{close.name}> without a matching <{close.name}> before it.", n
        )
    opened = tags[open_idx]
    if opened.name != close.name:
        return _invalid(
            f"<{opened.name}> is closed by </{close.name}>; open and close the same tag, "
            f"e.g. {_valid_forms_text((opened.name,))}.",
            n,
        )
    if close_idx - open_idx > 1:
        inner = tags[open_idx + 1]
        return _invalid(
            f"<{opened.name}> contains a <{'/' if inner.closing else ''}{inner.name}> tag; "
            "tags cannot be nested inside an action.",
            n,
        )

    think = _think_before(text, tags, open_idx)
    argument = text[opened.end : close.start].strip()
    if not argument:
        return _invalid(
            f"empty <{opened.name}></{opened.name}>: put the {_WHAT[opened.name]} between "
            f"<{opened.name}> and </{opened.name}>.",
            n,
            think=think,
        )

    format_ok = _text_format_ok(text, tags, open_idx, close_idx)
    return ParsedAction(
        kind=opened.name,
        argument=argument,
        think=think,
        format_ok=format_ok,
        raw_length=n,
        queries=(argument,) if opened.name == SEARCH else (),
        protocol="text",
    )


def _think_before(text: str, tags: list[_Tag], open_idx: int) -> str | None:
    """Content of the first complete ``<think>…</think>`` ending before the action tag."""
    for i in range(open_idx):
        if tags[i].name == THINK and not tags[i].closing:
            for j in range(i + 1, open_idx):
                if tags[j].name == THINK and tags[j].closing:
                    return text[tags[i].end : tags[j].start].strip()
            return None
    return None


def _text_format_ok(text: str, tags: list[_Tag], open_idx: int, close_idx: int) -> bool:
    if len(tags) != close_idx + 1:  # a tag after the action
        return False
    outside: tuple[str, ...]
    if open_idx == 0:
        outside = (text[: tags[0].start], text[tags[close_idx].end :])
    elif (
        open_idx == 2
        and tags[0].name == THINK
        and not tags[0].closing
        and tags[1].name == THINK
        and tags[1].closing
    ):
        outside = (text[: tags[0].start], text[tags[1].end : tags[2].start], text[tags[3].end :])
    else:
        return False
    return all(not part.strip() for part in outside)


# --------------------------------------------------------------------------- tool protocol


def _size(obj: Any) -> int | None:
    try:
        return len(json.dumps(obj, ensure_ascii=False, default=str))
    except (TypeError, ValueError, RecursionError):
        return None


def _content_text(content: Any) -> str | None:
    """OpenAI ``content``: a string, None, or a list of ``{"type": "text", "text": ...}`` parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return None


def _message_think(message: Mapping[str, Any], content: str | None) -> str | None:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if content and content.strip():
        m = _THINK_BLOCK_RE.search(content)
        return (m.group(1) if m else content).strip() or None
    return None


class _BadCall(ValueError):
    """Internal: a tool call is malformed; the message is the agent-facing error."""


def _load_arguments(name: str, arguments: Any) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            detail = getattr(exc, "msg", None) or type(exc).__name__
            raise _BadCall(f"the arguments of '{name}' are not valid JSON ({detail}).") from None
    if not isinstance(arguments, Mapping):
        kind = type(arguments).__name__
        raise _BadCall(f"the arguments of '{name}' must be a JSON object, got {kind}.")
    return dict(arguments)


def _string_arg(name: str, args: Mapping[str, Any], key: str) -> str:
    if key not in args:
        raise _BadCall(f"'{name}' needs a '{key}' argument (a non-empty string).")
    value = args[key]
    if not isinstance(value, str):
        kind = type(value).__name__
        raise _BadCall(f"the '{key}' argument of '{name}' must be a string, got {kind}.")
    value = value.strip()
    if not value:
        raise _BadCall(f"the '{key}' argument of '{name}' is empty; give the {_WHAT[name]}.")
    return value


def _query_list(value: Any) -> tuple[str, ...]:
    where = f"the '{QUERY_LIST_ARG}' argument of 'search'"
    if not isinstance(value, (list, tuple)):
        raise _BadCall(f"{where} must be a list of strings, got {type(value).__name__}.")
    if not value:
        raise _BadCall(f"{where} is empty; give at least one query.")
    queries = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            kind = type(item).__name__
            raise _BadCall(f"item {i} of '{QUERY_LIST_ARG}' must be a string, got {kind}.")
        if not item.strip():
            raise _BadCall(f"item {i} of '{QUERY_LIST_ARG}' is an empty query.")
        queries.append(item.strip())
    return tuple(queries)


def _call_arguments(tool: str, arguments: Any) -> tuple[str, tuple[str, ...]]:
    """The ``(argument, queries)`` of a call to a known tool; raises :class:`_BadCall`."""
    args = _load_arguments(tool, arguments)
    if tool == SEARCH:
        if QUERY_ARG in args and QUERY_LIST_ARG in args:
            raise _BadCall(
                f"'search' got both '{QUERY_ARG}' and '{QUERY_LIST_ARG}'; give only one."
            )
        if QUERY_LIST_ARG in args:
            queries = _query_list(args[QUERY_LIST_ARG])
            return "\n".join(queries), queries
        query = _string_arg(tool, args, QUERY_ARG)
        return query, (query,)
    return _string_arg(tool, args, DOC_ID_ARG if tool == ACCESS else ANSWER_ARG), ()


def _parse_call(
    name: Any, arguments: Any, allowed: tuple[str, ...], n: int, call_id: str | None
) -> ParsedAction:
    try:
        if not isinstance(name, str) or not name.strip():
            raise _BadCall(f"the tool call has no tool name; valid tools: {_valid_tools(allowed)}.")
        tool = name.strip().lower()
        if tool not in allowed:
            raise _BadCall(f"unknown tool '{name[:100]}'; valid tools: {_valid_tools(allowed)}.")
        argument, queries = _call_arguments(tool, arguments)
    except _BadCall as bad:
        return _invalid(str(bad), n, "tools", call_id=call_id)
    return ParsedAction(
        kind=tool,
        argument=argument,
        format_ok=True,
        raw_length=n,
        queries=queries,
        protocol="tools",
        call_id=call_id,
    )


def _call_id(obj: Mapping[str, Any]) -> str | None:
    value = obj.get("id", obj.get("call_id"))
    return value if isinstance(value, str) else None


def _parse_tool_item(item: Any, allowed: tuple[str, ...], n: int) -> ParsedAction:
    """An OpenAI tool-call item, or a plain ``{"name", "arguments"}`` call."""
    if not isinstance(item, Mapping):
        return _invalid(
            f"a tool call must be an object, got {type(item).__name__}.", n, "tools"
        )
    function = item.get("function")
    if isinstance(function, Mapping):
        return _parse_call(
            function.get("name"), function.get("arguments"), allowed, n, _call_id(item)
        )
    if "name" in item:
        return _parse_call(item.get("name"), item.get("arguments"), allowed, n, _call_id(item))
    return _invalid(
        "a tool call needs a 'function' object with 'name' and 'arguments' "
        f"(or 'name' and 'arguments'); valid tools: {_valid_tools(allowed)}.",
        n,
        "tools",
        call_id=_call_id(item),
    )


def _parse_mapping(
    obj: Mapping[str, Any], allowed: tuple[str, ...], max_chars: int
) -> ParsedAction:
    n = _size(obj)
    if n is None:
        return _invalid("the action mapping is not JSON-serialisable.", 0, "tools")
    if n > max_chars:
        return _invalid(
            f"the action is {n} characters long (as JSON); the limit is {max_chars}.", n, "tools"
        )

    is_message = "tool_calls" in obj or "function_call" in obj or "role" in obj or "content" in obj
    if not is_message:
        return _parse_tool_item(obj, allowed, n)

    content = _content_text(obj.get("content"))
    tool_calls = obj.get("tool_calls")
    if tool_calls is None and isinstance(obj.get("function_call"), Mapping):
        tool_calls = [{"function": obj["function_call"]}]  # legacy single function call
    if tool_calls:
        if not isinstance(tool_calls, (list, tuple)):
            return _invalid(
                f"'tool_calls' must be a list, got {type(tool_calls).__name__}.", n, "tools"
            )
        parsed = _parse_tool_item(tool_calls[0], allowed, n)
        think = _message_think(obj, content)
        if len(tool_calls) > 1 and parsed.is_valid:
            return _replace(parsed, think=think, format_ok=False)
        return _replace(parsed, think=think)

    if content is None:
        return _invalid(
            "the assistant message has neither tool calls nor text content; call one of the "
            f"tools ({_valid_tools(allowed)}) or write {_valid_forms_text(allowed)}.",
            n,
        )
    parsed = _parse_text(content, allowed, max_chars)
    if parsed.think is None:
        think = _message_think(obj, None)  # reasoning_content, if the server split it out
        if think is not None:
            parsed = _replace(parsed, think=think)
    return parsed


# --------------------------------------------------------------------------- entry point


def parse_action(
    action: Any,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    allowed_actions: Collection[str] | None = None,
) -> ParsedAction:
    """Parse one agent turn (text, or an OpenAI-style tool call / assistant message).

    ``max_chars`` bounds the input (text length, or JSON length for a mapping); longer input is
    invalid. ``allowed_actions`` restricts the action kinds (default: all three); a disallowed
    tag is treated as plain text and a disallowed tool as unknown, and the error messages list
    only the allowed ones. Never raises on agent input.
    """
    allowed = _allowed(allowed_actions)
    if isinstance(action, str):
        return _parse_text(action, allowed, max_chars)
    if isinstance(action, Mapping):
        return _parse_mapping(action, allowed, max_chars)
    return _invalid(
        f"the action must be a string or a tool-call mapping, got {type(action).__name__}. "
        f"Write {_valid_forms_text(allowed)}.",
        0,
        "unknown",
    )
