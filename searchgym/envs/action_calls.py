"""The structured protocol (OpenAI tool calls, tool-call items, assistant messages): see
:mod:`searchgym.envs.actions` for the rules. An assistant message without tool calls is parsed
with the text protocol.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace as _replace
from typing import Any

from searchgym.envs.action_base import _THINK_BLOCK_RE, _WHAT, ParsedAction, _invalid, _valid_forms_text, _valid_tools
from searchgym.envs.action_text import parse_text
from searchgym.envs.tools import (
    ACCESS,
    ANSWER_ARG,
    DOC_ID_ARG,
    QUERY_ARG,
    QUERY_LIST_ARG,
    SEARCH,
)

__all__ = ["parse_mapping"]


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
            raise _BadCall(f"'search' got both '{QUERY_ARG}' and '{QUERY_LIST_ARG}'; give only one.")
        if QUERY_LIST_ARG in args:
            queries = _query_list(args[QUERY_LIST_ARG])
            return "\n".join(queries), queries
        query = _string_arg(tool, args, QUERY_ARG)
        return query, (query,)
    return _string_arg(tool, args, DOC_ID_ARG if tool == ACCESS else ANSWER_ARG), ()


def _parse_call(name: Any, arguments: Any, allowed: tuple[str, ...], n: int, call_id: str | None) -> ParsedAction:
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
        return _invalid(f"a tool call must be an object, got {type(item).__name__}.", n, "tools")
    function = item.get("function")
    if isinstance(function, Mapping):
        return _parse_call(function.get("name"), function.get("arguments"), allowed, n, _call_id(item))
    if "name" in item:
        return _parse_call(item.get("name"), item.get("arguments"), allowed, n, _call_id(item))
    return _invalid(
        "a tool call needs a 'function' object with 'name' and 'arguments' "
        f"(or 'name' and 'arguments'); valid tools: {_valid_tools(allowed)}.",
        n,
        "tools",
        call_id=_call_id(item),
    )


def parse_mapping(obj: Mapping[str, Any], allowed: tuple[str, ...], max_chars: int) -> ParsedAction:
    n = _size(obj)
    if n is None:
        return _invalid("the action mapping is not JSON-serialisable.", 0, "tools")
    if n > max_chars:
        return _invalid(f"the action is {n} characters long (as JSON); the limit is {max_chars}.", n, "tools")

    is_message = "tool_calls" in obj or "function_call" in obj or "role" in obj or "content" in obj
    if not is_message:
        return _parse_tool_item(obj, allowed, n)

    content = _content_text(obj.get("content"))
    tool_calls = obj.get("tool_calls")
    if tool_calls is None and isinstance(obj.get("function_call"), Mapping):
        tool_calls = [{"function": obj["function_call"]}]  # legacy single function call
    if tool_calls:
        if not isinstance(tool_calls, (list, tuple)):
            return _invalid(f"'tool_calls' must be a list, got {type(tool_calls).__name__}.", n, "tools")
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
    parsed = parse_text(content, allowed, max_chars)
    if parsed.think is None:
        think = _message_think(obj, None)  # reasoning_content, if the server split it out
        if think is not None:
            parsed = _replace(parsed, think=think)
    return parsed
