"""Instruction prompts and the invalid-action message.

``style="search_r1"`` reproduces, word for word, the Search-R1 ``make_prefix`` "base" template
(ZeroSearch uses the identical text), including its typo "as many times as your want", so that
checkpoints trained on it see the prompt they were trained with: with ``allow_access=False`` the
output is byte-identical to Search-R1's. With ``allow_access=True`` (default) one sentence is
added that introduces ASearcher's ``<access> doc_id </access>`` action.

``style="tools"`` is a short instruction for native tool-calling models; the tool schemas
themselves come from :mod:`searchgym.envs.tools` and are passed to the chat template.

The question gets a trailing ``?`` if it has none, as Search-R1 does.
"""

from __future__ import annotations

__all__ = [
    "STYLES",
    "render_prompt",
    "INVALID_ACTION_MESSAGE",
    "render_invalid_action",
    "normalize_question",
]

STYLES: tuple[str, ...] = ("search_r1", "tools")

_SEARCH_R1_HEAD = (
    "Answer the given question. "
    "You must conduct reasoning inside <think> and </think> first every time you get new "
    "information. "
    "After reasoning, if you find you lack some knowledge, you can call a search engine by "
    "<search> query </search> and it will return the top searched results between "
    "<information> and </information>. "
)
_SEARCH_R1_ACCESS = (
    "Each of the top {top_k} results starts with its document id, as in [id: doc_id]; "
    "to read the full text of a document, you can call <access> doc_id </access> and it will "
    "return the document between <information> and </information>. "
)
_SEARCH_R1_TAIL = (
    "You can search as many times as your want. "
    "If you find no further external knowledge needed, you can directly provide the answer "
    "inside <answer> and </answer>, without detailed illustrations. "
    "For example, <answer> Beijing </answer>. Question: {question}\n"
)

_TOOLS_PROMPT = (
    "Answer the given question. You can call the search tool as many times as you want; each "
    "call returns the top {top_k} documents, each with its title and document id.{access} "
    "When you know the answer, call the answer tool with a short answer, without explanation "
    "(for example: Beijing).\nQuestion: {question}\n"
)
_TOOLS_ACCESS = " To read the full text of a document, call the access tool with its document id."

INVALID_ACTION_MESSAGE = (
    "\nMy previous action is invalid{error}. "
    "If I want to search, I should put the query between <search> and </search>. "
    "{access}"
    "If I want to give the final answer, I should put the answer between <answer> and "
    "</answer>. Let me try again.\n"
)
"""Search-R1's invalid-action observation as a template with ``{error}`` and ``{access}`` slots;
use :func:`render_invalid_action` to fill it."""

_INVALID_ACCESS = "If I want to read a document, I should put its document id between <access> and </access>. "


def normalize_question(question: str) -> str:
    """Strip the question and append ``?`` if it does not end with one (Search-R1 behaviour)."""
    question = question.strip()
    if not question:
        raise ValueError("the question is empty")
    if not question.endswith(("?", "？")):
        question += "?"
    return question


def render_prompt(question: str, *, style: str = "search_r1", allow_access: bool = True, top_k: int = 3) -> str:
    """Render the user-message instruction for one question.

    ``top_k`` only appears in text that is ours (the access sentence and the tools style); the
    original Search-R1 sentences do not state it.
    """
    question = normalize_question(question)
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if style == "search_r1":
        access = _SEARCH_R1_ACCESS.format(top_k=top_k) if allow_access else ""
        return _SEARCH_R1_HEAD + access + _SEARCH_R1_TAIL.format(question=question)
    if style == "tools":
        return _TOOLS_PROMPT.format(top_k=top_k, access=_TOOLS_ACCESS if allow_access else "", question=question)
    raise ValueError(f"unknown prompt style {style!r}; expected one of {STYLES}")


def render_invalid_action(error: str | None = None, *, allow_access: bool = True) -> str:
    """The observation for an invalid action.

    With ``error=None`` and ``allow_access=False`` this is exactly Search-R1's message. A given
    ``error`` (e.g. :attr:`ParsedAction.error`) is inserted as "My previous action is
    invalid: {error}." so the agent learns what was wrong, not only what is valid.
    """
    detail = ""
    if error and error.strip():
        detail = ": " + " ".join(error.split()).rstrip(" .")
    return INVALID_ACTION_MESSAGE.format(error=detail, access=_INVALID_ACCESS if allow_access else "")
