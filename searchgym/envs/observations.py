"""Render what the agent sees after an action: search hits, an opened document, errors.

Search results follow Search-R1's ``_passages2string`` layout, one line per document, wrapped
the way its ``execute_predictions`` wraps them::

    \\n\\n<information>Doc 1 (Title: {title}) [id: {doc_id}] {text}
    Doc 2 (Title: ...) [id: ...] ...</information>\\n\\n

Differences from Search-R1, on purpose:

* ``[id: {doc_id}]`` is added (``show_ids=True``) so the agent can ``<access>`` a result, as
  ASearcher shows a URL per result. With ``show_ids=False`` the line is
  ``Doc 1 (Title: {title}) {text}``. (Search-R1 itself writes ``Doc 1(Title: "{title}")``,
  with no space and the title in quotes, because it splits its ``contents`` field.)
* Each document text is cut to ``max_doc_chars`` characters (at a word boundary when one is
  close, then ``" ..."`` is appended) so an observation stays bounded whatever the backend
  returns; ``<access>`` gives the whole passage.
* Protocol tags (``<information>``, ``<think>``, ``<search>``, ``<access>``, ``<answer>`` and
  their closing forms) inside rendered content are neutralised to ``[information]`` etc. A
  document or an echoed doc id containing ``</information>`` or ``<answer>`` would otherwise end
  the retrieved-token mask early or be read as an answer by transcript-level scorers.

A multi-query search (verl's ``query_list``) renders one block per query, joined by
``\\n---\\n`` as verl's ``SearchTool`` does, inside a single ``<information>`` element.

Every ``format_*`` function takes ``wrap=False`` to get the bare body, e.g. for the content of
an OpenAI ``tool`` message in the tool-calling protocol.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from searchgym.types import Hit, Passage


class OpenedDocument(Protocol):
    """What an opened document shows: a passage, a hit or a whole article page."""

    @property
    def doc_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...


__all__ = [
    "DEFAULT_MAX_DOC_CHARS",
    "MULTI_QUERY_SEPARATOR",
    "TRUNCATION_MARKER",
    "wrap_information",
    "sanitize",
    "truncate_text",
    "format_hits",
    "format_search_results",
    "format_access",
    "format_error",
    "format_no_results",
    "result_records",
]

DEFAULT_MAX_DOC_CHARS = 1000
MULTI_QUERY_SEPARATOR = "\n---\n"
TRUNCATION_MARKER = " ..."

_PROTOCOL_TAG = re.compile(r"<\s*(/?)(information|think|search|access|answer)\s*>", re.IGNORECASE)


def sanitize(text: str) -> str:
    """Neutralise protocol tags in retrieved or echoed text: ``</answer>`` -> ``[/answer]``."""
    if "<" not in text:  # every tag starts with one; a passage rarely holds any (saves the scan)
        return text
    return _PROTOCOL_TAG.sub(lambda m: f"[{m.group(1)}{m.group(2)}]", text)


def truncate_text(text: str, max_chars: int | None) -> str:
    """Cut ``text`` to at most ``max_chars`` characters plus :data:`TRUNCATION_MARKER`.

    The cut moves back to the last whitespace if that loses less than a fifth of the budget,
    so words are not split. ``None`` means no limit.
    """
    if max_chars is None or len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return TRUNCATION_MARKER.strip()
    cut = text[:max_chars]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= max_chars * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + TRUNCATION_MARKER


def wrap_information(body: str) -> str:
    """Search-R1's observation wrapper: ``\\n\\n<information>{body}</information>\\n\\n``."""
    return f"\n\n<information>{body.strip()}</information>\n\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _doc_head(title: str, doc_id: str, show_ids: bool) -> str:
    head = f"(Title: {sanitize(_one_line(title))})"
    if show_ids:
        head += f" [id: {sanitize(_one_line(doc_id))}]"
    return head


def _no_results_body(query: str | None) -> str:
    if query is None or not query.strip():
        return "No results found."
    return f"No results found for query: {sanitize(_one_line(query))}"


def _hits_body(hits: Sequence[Hit], query: str | None, max_doc_chars: int | None, show_ids: bool) -> str:
    if not hits:
        return _no_results_body(query)
    lines = []
    for i, hit in enumerate(hits, start=1):
        text = sanitize(truncate_text(hit.text.strip(), max_doc_chars))
        lines.append(f"Doc {i} {_doc_head(hit.title, hit.doc_id, show_ids)} {text}")
    return "\n".join(lines)


def format_hits(
    hits: Sequence[Hit],
    *,
    query: str | None = None,
    max_doc_chars: int | None = DEFAULT_MAX_DOC_CHARS,
    show_ids: bool = True,
    wrap: bool = True,
) -> str:
    """Render one query's hits (best first). No hits renders :func:`format_no_results`."""
    body = _hits_body(hits, query, max_doc_chars, show_ids)
    return wrap_information(body) if wrap else body


def format_search_results(
    results: Sequence[Sequence[Hit]],
    queries: Sequence[str] | None = None,
    *,
    max_doc_chars: int | None = DEFAULT_MAX_DOC_CHARS,
    show_ids: bool = True,
    wrap: bool = True,
) -> str:
    """Render a multi-query search: one block per query joined by ``\\n---\\n`` (verl).

    With a single query this equals :func:`format_hits`. ``queries``, when given, must be as
    long as ``results`` and is only used to name queries that found nothing.
    """
    if queries is not None and len(queries) != len(results):
        raise ValueError(f"{len(results)} result lists but {len(queries)} queries")
    blocks = [
        _hits_body(hits, queries[i] if queries is not None else None, max_doc_chars, show_ids)
        for i, hits in enumerate(results)
    ]
    body = MULTI_QUERY_SEPARATOR.join(blocks) if blocks else _no_results_body(None)
    return wrap_information(body) if wrap else body


def format_access(
    passage: OpenedDocument,
    *,
    max_chars: int | None = None,
    show_ids: bool = True,
    wrap: bool = True,
) -> str:
    """Render an opened document: ``(Title: {title}) [id: {doc_id}] {full text}``.

    ``max_chars`` (default: no limit) bounds the text for backends whose documents can be long.
    """
    text = sanitize(truncate_text(passage.text.strip(), max_chars))
    body = f"{_doc_head(passage.title, passage.doc_id, show_ids)} {text}"
    return wrap_information(body) if wrap else body


def format_error(message: str, *, wrap: bool = True) -> str:
    """Render an error from executing a well-formed action (unknown doc id, backend failure).

    Malformed actions get :func:`searchgym.envs.prompts.render_invalid_action` instead.
    """
    body = f"Error: {sanitize(message.strip())}"
    return wrap_information(body) if wrap else body


def format_no_results(query: str | None = None, *, wrap: bool = True) -> str:
    """Render an empty search result (``No results found for query: ...``)."""
    body = _no_results_body(query)
    return wrap_information(body) if wrap else body


def result_records(
    results: Sequence[Sequence[Hit | Passage]], queries: Sequence[str | None], max_doc_chars: int | None
) -> list[dict[str, object]]:
    """``info["results"]``: the documents an observation shows, as records an agent can use
    without parsing text: ``{"rank", "doc_id", "title", "text", "score", "query"}``, rank 1-based
    within its query, text cut exactly as in the observation (so the records carry nothing the
    agent was not shown), ``score`` ``None`` for an opened document, ``query`` ``None`` for one.
    """
    records: list[dict[str, object]] = []
    for hits, query in zip(results, queries):
        for rank, hit in enumerate(hits, start=1):
            records.append(
                {
                    "rank": rank,
                    "doc_id": str(hit.doc_id),
                    "title": str(hit.title),
                    "text": truncate_text(hit.text.strip(), max_doc_chars),
                    "score": float(hit.score) if isinstance(hit, Hit) else None,
                    "query": query,
                }
            )
    return records
