"""Tool calling for chat models: a tool-capable ChatML template and the Hermes tool-call format.

Why: native tool calling needs three things to agree — the chat template that renders tool
schemas, assistant tool calls and tool results into the prompt; the text the model writes for a
call; and the parser that turns that text back into OpenAI ``tool_calls``. The bundled
SmolLM2-135M-Instruct ships a plain ChatML template that silently drops ``tools`` and
``tool_calls``, so TRL refuses it ("The provided chat template does not support tool calling")
and an OpenAI server on it could never return a call.

:data:`TOOL_CHAT_TEMPLATE` is ChatML with the Hermes/Qwen tool convention (schemas in a
``<tools>`` block of the system message, calls as ``<tool_call>{"name", "arguments"}</tool_call>``,
results as ``<tool_response>`` blocks in a user turn). It is prefix-preserving (each tool result
is its own turn, so a longer conversation renders the shorter one unchanged, which TRL's
multi-turn masking needs) and marks assistant turns with ``{% generation %}`` for assistant-only
loss. :data:`TOOL_RESPONSE_TEMPLATE` tells ``tokenizer.parse_response`` (transformers >= 5.13,
used by TRL) how to read a generation back. :func:`split_tool_calls` is the server-side parser.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "HERMES_TOOL_CALL",
    "TOOL_CHAT_TEMPLATE",
    "TOOL_RESPONSE_TEMPLATE",
    "ensure_tool_template",
    "hermes_tool_calls",
    "normalize_messages",
    "renders_tools",
    "split_tool_calls",
]

TOOL_CHAT_TEMPLATE = (
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages and messages[0]['role'] in ['system', 'developer'] %}"
    "{{- messages[0]['content'] ~ '\\n\\n' }}"
    "{%- endif %}"
    "{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n'"
    " ~ 'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' ~ (tool | tojson) }}{%- endfor %}"
    "{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments'"
    " ~ ' within <tool_call></tool_call> XML tags:\\n<tool_call>\\n'"
    ' ~ \'{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call><|im_end|>\\n\' }}'
    "{%- elif messages and messages[0]['role'] in ['system', 'developer'] %}"
    "{{- '<|im_start|>system\\n' ~ messages[0]['content'] ~ '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] in ['system', 'developer'] %}"
    "{%- elif message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}"
    "{{- message['content'] or '' }}"
    "{%- for call in message['tool_calls'] or [] %}"
    "{%- set function = call['function'] if call['function'] is defined else call %}"
    "{%- if message['content'] or not loop.first %}{{- '\\n' }}{%- endif %}"
    "{{- '<tool_call>\\n{\"name\": \"' ~ function['name'] ~ '\", \"arguments\": ' }}"
    "{%- if function['arguments'] is string %}{{- function['arguments'] }}"
    "{%- else %}{{- function['arguments'] | tojson }}{%- endif %}"
    "{{- '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>' }}"
    "{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- elif message['role'] == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' ~ message['content'] ~ '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' ~ message['role'] ~ '\\n' ~ message['content'] ~ '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""ChatML + Hermes tool calls, prefix-preserving, with generation markers (see the module doc)."""

TOOL_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""How ``tokenizer.parse_response`` reads a generation rendered by :data:`TOOL_CHAT_TEMPLATE`."""

HERMES_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.IGNORECASE | re.DOTALL)
"""One ``<tool_call>...</tool_call>`` block (an unclosed one is text, as the env reads it)."""

_SENTINEL_NAME, _SENTINEL_ARG, _SENTINEL_RESULT = "tool_name_5e1f", "tool_arg_9c2d", "tool_result_7b3a"


def hermes_tool_calls(text: str) -> list[dict[str, Any]]:
    """The ``{"name", "arguments"}`` of every well-formed ``<tool_call>`` block of ``text``.

    Blocks whose body is not a JSON object with a string ``name`` are skipped (callers treat
    the turn as text then, which the env reports as an invalid action).
    """
    calls = []
    for match in HERMES_TOOL_CALL.finditer(text):
        call = _json_object(match.group(1))
        if call is not None and isinstance(call.get("name"), str):
            calls.append({"name": call["name"], "arguments": call.get("arguments", {})})
    return calls


def split_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split a generation into its text and OpenAI wire ``tool_calls`` (arguments as JSON text).

    Only well-formed blocks become calls and are cut from the text; a malformed block stays in
    the text, so the caller sees exactly what the model wrote.
    """
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    position = 0
    for match in HERMES_TOOL_CALL.finditer(text):
        call = _json_object(match.group(1))
        if call is None or not isinstance(call.get("name"), str):
            continue
        kept.append(text[position : match.start()])
        position = match.end()
        arguments = call.get("arguments", {})
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    kept.append(text[position:])
    return "".join(kept).strip() if calls else text, calls


def _json_object(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def normalize_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI wire messages as chat templates expect them.

    Content parts become one string; an assistant's ``tool_calls`` keep their function name and
    get their JSON-text arguments parsed into a dict (templates render ``arguments | tojson``);
    ``name`` / ``tool_call_id`` are kept for templates that use them.
    """
    out = []
    for message in messages:
        item: dict[str, Any] = {"role": message["role"], "content": _text(message.get("content"))}
        for key in ("name", "tool_call_id"):
            if message.get(key) is not None:
                item[key] = message[key]
        calls = message.get("tool_calls") or []
        if calls:
            item["tool_calls"] = [_template_call(call) for call in calls]
        out.append(item)
    return out


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        str(part.get("text", "")) if isinstance(part, Mapping) else str(getattr(part, "text", "")) for part in content
    )


def _template_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        parsed = _json_object(arguments) if arguments.strip() else {}
        arguments = parsed if parsed is not None else arguments
    return {"type": "function", "function": {"name": function.get("name", ""), "arguments": arguments}}


def renders_tools(tokenizer: Any, chat_template: str | None = None) -> bool:
    """Whether a chat template renders a whole tool conversation: schemas, calls and results.

    Templates that ignore ``tools`` or ``tool_calls`` render without error, so this renders a
    conversation with sentinel names and checks that every part survives (as TRL does).
    """
    template = chat_template or getattr(tokenizer, "chat_template", None)
    if not template:
        return False
    tools = [
        {
            "type": "function",
            "function": {
                "name": _SENTINEL_NAME,
                "description": "probe",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    messages = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": _SENTINEL_NAME, "arguments": {_SENTINEL_ARG: 1}}}],
        },
        {"role": "tool", "name": _SENTINEL_NAME, "content": _SENTINEL_RESULT},
    ]
    try:
        with_tools = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, chat_template=template)
        without = tokenizer.apply_chat_template(messages[:1], tokenize=False, chat_template=template)
    except Exception:  # noqa: BLE001 - any template error means "cannot render tools"
        return False
    schemas_shown = with_tools.count(_SENTINEL_NAME) > without.count(_SENTINEL_NAME) + 1
    return schemas_shown and _SENTINEL_ARG in with_tools and _SENTINEL_RESULT in with_tools


def ensure_tool_template(tokenizer: Any) -> bool:
    """Give a ChatML tokenizer whose template drops tools :data:`TOOL_CHAT_TEMPLATE`.

    Returns True when the template was replaced. A template that already renders tools is kept
    (the model's own format is best); a non-ChatML one that cannot is an error, because a
    ChatML tool format would not match what that model was trained on.
    """
    if renders_tools(tokenizer):
        return False
    current = getattr(tokenizer, "chat_template", None) or ""
    if current and "<|im_start|>" not in current:
        raise ValueError(
            "this model's chat template cannot render tools and is not ChatML; "
            "set tokenizer.chat_template to a tool-capable template for it"
        )
    tokenizer.chat_template = TOOL_CHAT_TEMPLATE
    if getattr(tokenizer, "response_template", None) is None:
        try:
            tokenizer.response_template = TOOL_RESPONSE_TEMPLATE
        except (AttributeError, TypeError):  # an older transformers without response parsing
            pass
    return True
