"""OpenAI function-tool schemas for the three agent actions: ``search``, ``access``, ``answer``.

One definition is shared by the environment (``info["tools"]``), the agents and the trainer
adapters, so that a tool-calling model sees exactly the argument names that
:func:`searchgym.envs.actions.parse_action` accepts. The schemas are in the OpenAI
``{"type": "function", "function": {...}}`` form, which vLLM, SGLang, verl's
``OpenAIFunctionToolSchema``, TRL and chat templates (``apply_chat_template(tools=...)``) all read.

``search`` takes one ``query`` string. verl's built-in ``SearchTool`` instead takes
``query_list`` (an array of strings); :func:`tool_schemas` with ``multi_query=True`` gives that
form, and the parser accepts both whichever schema was advertised.
"""

from __future__ import annotations

import copy
from typing import Any

SEARCH = "search"
ACCESS = "access"
ANSWER = "answer"
ACTION_NAMES: tuple[str, ...] = (SEARCH, ACCESS, ANSWER)
"""The tool names, which are also the text-protocol tag names and ``ParsedAction.kind`` values."""

QUERY_ARG = "query"
QUERY_LIST_ARG = "query_list"
DOC_ID_ARG = "doc_id"
ANSWER_ARG = "answer"


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_SEARCH_SCHEMA = _function(
    SEARCH,
    "Search the knowledge base. Returns the top-ranked documents, each with its title, its document id and its text.",
    {QUERY_ARG: {"type": "string", "description": "The search query."}},
    [QUERY_ARG],
)

_SEARCH_LIST_SCHEMA = _function(
    SEARCH,
    "Search the knowledge base with one or more queries. Returns, for each query, the "
    "top-ranked documents, each with its title, its document id and its text.",
    {
        QUERY_LIST_ARG: {
            "type": "array",
            "items": {"type": "string"},
            "description": "A list of search queries.",
        }
    },
    [QUERY_LIST_ARG],
)

_ACCESS_SCHEMA = _function(
    ACCESS,
    "Open one document by its id (as shown in search results) and return its full text.",
    {DOC_ID_ARG: {"type": "string", "description": "The document id, e.g. from a search result."}},
    [DOC_ID_ARG],
)

_ANSWER_SCHEMA = _function(
    ANSWER,
    "Give the final answer and end the episode. Answer concisely, without explanation.",
    {ANSWER_ARG: {"type": "string", "description": "The final answer, as short as possible."}},
    [ANSWER_ARG],
)


def tool_schemas(*, allow_access: bool = True, multi_query: bool = False) -> list[dict[str, Any]]:
    """Return a fresh (deep-copied, safe to mutate) list of tool schemas.

    ``allow_access=False`` drops the ``access`` tool (plain Search-R1 setting);
    ``multi_query=True`` advertises verl's ``search(query_list: array[string])`` instead of
    ``search(query: string)``.
    """
    schemas = [_SEARCH_LIST_SCHEMA if multi_query else _SEARCH_SCHEMA]
    if allow_access:
        schemas.append(_ACCESS_SCHEMA)
    schemas.append(_ANSWER_SCHEMA)
    return copy.deepcopy(schemas)


TOOL_SCHEMAS: list[dict[str, Any]] = tool_schemas()
"""The default schemas (search with ``query``, access, answer). Treat as read-only; call
:func:`tool_schemas` for a copy you may modify."""
