"""What a search or an access shows the agent, rendered in one place.

The env's observations, the stateless tools of the trainer adapters (verl's ``BaseTool``
subclasses, verifiers' tool functions) and the episode core all render through
:func:`render_search` and :func:`render_access`, so an agent sees the same text for the same
call whichever path runs it. Each returns a :class:`Rendered`: the observation text and the
structured facts about it (doc ids shown, ``info["results"]`` records, and the evidence text
reward terms may read — empty for engines whose documents the agent wrote itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from searchgym.corpus.page import open_page
from searchgym.envs.observations import (
    format_access,
    format_error,
    format_search_results,
    result_records,
    truncate_text,
)
from searchgym.search.base import SearchError, UnknownDocumentError, shows_agent_text
from searchgym.types import Hit

__all__ = ["Rendered", "access_limit", "render_access", "render_failure", "render_search"]


@dataclass
class Rendered:
    """An observation and what it shows."""

    observation: str = ""
    doc_ids: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)  # info["results"]
    evidence_text: list[str] = field(default_factory=list)  # what reward terms may read as retrieved
    error: str | None = None
    backend_error: bool = False
    opened: str | None = None  # the id of the document an access opened


def access_limit(max_doc_chars: int) -> int:
    """How much of an opened document that is not an article page is shown."""
    return 4 * max_doc_chars


def render_search(
    results: Sequence[Sequence[Hit]],
    queries: Sequence[str],
    *,
    engine: Any,
    max_doc_chars: int,
    show_ids: bool,
    wrap: bool = True,
) -> Rendered:
    """The observation of a search whose results are known (one hit list per query)."""
    rendered = Rendered(
        observation=format_search_results(
            results, list(queries), max_doc_chars=max_doc_chars, show_ids=show_ids, wrap=wrap
        ),
        doc_ids=[str(hit.doc_id) for hits in results for hit in hits],
        results=result_records(results, list(queries), max_doc_chars),
    )
    if not shows_agent_text(engine):
        rendered.evidence_text = [
            f"{hit.title}\n{truncate_text(hit.text.strip(), max_doc_chars)}" for hits in results for hit in hits
        ]
    return rendered


def render_access(
    doc_id: str, *, engine: Any, bundle: Any, max_doc_chars: int, show_ids: bool, wrap: bool = True
) -> Rendered:
    """Open ``doc_id`` through ``engine``: a passage of an article opens the whole article (every
    passage it shows); a round-up page or an engine's own document opens as itself. An unknown id
    is an error observation; a backend failure too, with ``backend_error`` set."""
    try:
        passage = engine.access(doc_id)
        page = open_page(bundle.world, bundle.corpus, passage) if bundle is not None else None
        rendered = Rendered(opened=str(passage.doc_id))
        if page is None:
            limit = access_limit(max_doc_chars)
            rendered.observation = format_access(passage, max_chars=limit, show_ids=show_ids, wrap=wrap)
            rendered.doc_ids = [str(passage.doc_id)]
            rendered.results = result_records([[passage]], [None], limit)
            shown = [(passage.title, truncate_text(passage.text.strip(), limit))]
        else:
            corpus = bundle.corpus
            rendered.observation = format_access(page, show_ids=show_ids, wrap=wrap)
            rendered.doc_ids = list(page.doc_ids)
            rendered.results = result_records([[corpus[d] for d in page.doc_ids]], [None], None)
            shown = [(corpus[d].title, corpus[d].text) for d in page.doc_ids]
        if not shows_agent_text(engine):
            rendered.evidence_text = [f"{title}\n{text}" for title, text in shown]
        return rendered
    except UnknownDocumentError as missing:
        return Rendered(
            observation=format_error(f"{missing}. Use a document id shown in search results.", wrap=wrap),
            error=str(missing),
        )
    except Exception as error:  # noqa: BLE001 - any backend failure is an observation
        return render_failure("access", error, wrap=wrap)


def render_failure(what: str, error: BaseException, *, wrap: bool = True) -> Rendered:
    """A backend failure as the step's error observation."""
    detail = str(error) if isinstance(error, SearchError) else f"{type(error).__name__}: {error}"
    message = f"{what} failed: {detail}"
    return Rendered(observation=format_error(message, wrap=wrap), error=message, backend_error=True)
