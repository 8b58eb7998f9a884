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

from collections.abc import Collection, Mapping
from typing import Any

from searchgym.envs.action_base import DEFAULT_MAX_CHARS, INVALID, ParsedAction, _allowed, _invalid, _valid_forms_text
from searchgym.envs.action_calls import parse_mapping
from searchgym.envs.action_text import parse_text

__all__ = ["ParsedAction", "parse_action", "INVALID", "DEFAULT_MAX_CHARS"]


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
        return parse_text(action, allowed, max_chars)
    if isinstance(action, Mapping):
        return parse_mapping(action, allowed, max_chars)
    return _invalid(
        f"the action must be a string or a tool-call mapping, got {type(action).__name__}. "
        f"Write {_valid_forms_text(allowed)}.",
        0,
        "unknown",
    )
