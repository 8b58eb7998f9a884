"""The wire shapes of the retrieval server: documents, their URLs, and each dialect's response.

Why one module: Search-R1, verl, SkyRL, ASearcher and ZeroSearch read different fields of the
same hits. A document here is a superset of all of them, so every client finds what it reads:

* ``id`` and ``contents`` (``"Title"\\ntext``): Search-R1's dense corpus rows, verl's tool;
* ``title`` and ``text``: Search-R1's BM25 rows and ZeroSearch's wiki retriever (``doc['text']``);
* ``url``: ASearcher reads ``r["url"]`` from every hit and later reads the page by posting it to
  ``/access``. The url is ``<server>/doc/<quoted id>``, built from the id alone (ids are opaque:
  nothing here parses them), and ``GET`` on it serves the page too, so it behaves like a web link.

Response shapes: ``{"result": [per-query list, ...]}`` for ``queries`` (Search-R1) and ``query``
(SkyRL, a one-element outer list); ZeroSearch's ``{"query", "top_k"}`` gets the bare list of
documents its client iterates over. With ``return_scores`` each element of a per-query list is
``{"document": doc, "score": s}``; without, the bare document (what Search-R1 intends; its own
server crashes there).
"""

from __future__ import annotations

from math import isfinite
from typing import Any
from urllib.parse import quote, unquote, urlparse

from searchgym.serve.schemas import RetrieveRequest
from searchgym.types import Hit, Passage

DOC_ROUTE = "/doc/"
"""Path prefix of a document's url; ``GET <base>/doc/<quoted id>`` serves the page."""


def doc_url(base_url: str, doc_id: str) -> str:
    """The url of ``doc_id`` under ``base_url`` (every character of the id is quoted, ``/`` too)."""
    return base_url.rstrip("/") + DOC_ROUTE + quote(doc_id, safe="")


def document(doc_id: str, title: str, text: str, base_url: str) -> dict[str, Any]:
    """The wire form of a document (see the module docstring for who reads which field)."""
    return {
        "id": doc_id,
        "title": title,
        "text": text,
        "contents": f'"{title}"\n{text}',
        "url": doc_url(base_url, doc_id),
    }


def passage_item(passage: Passage, base_url: str) -> dict[str, Any]:
    return document(passage.doc_id, passage.title, passage.text, base_url)


def hit_item(hit: Hit, with_score: bool, base_url: str) -> dict[str, Any]:
    doc = document(hit.doc_id, hit.title, hit.text, base_url)
    if not with_score:
        return doc
    score = float(hit.score)
    return {"document": doc, "score": score if isfinite(score) else None}


def retrieve_payload(request: RetrieveRequest, results: list[list[Hit]], base_url: str) -> Any:
    """The response body for ``request``'s dialect (a dict, or ZeroSearch's bare list)."""
    if request.dialect == "zerosearch":
        (hits,) = results
        return [
            hit_item(hit, False, base_url) | ({"score": _finite(hit.score)} if request.return_scores else {})
            for hit in hits
        ]
    return {"result": [[hit_item(hit, request.return_scores, base_url) for hit in hits] for hits in results]}


def _finite(score: float) -> float | None:
    score = float(score)
    return score if isfinite(score) else None


def url_candidates(url: str) -> list[str]:
    """Document ids a url may name, most specific first.

    Our own urls (``.../doc/<quoted id>``) name exactly the unquoted rest of the path, whatever
    characters the id holds. Other urls are tried whole, then by their last path segment
    (``searchgym://doc/<id>``, ``http://host/wiki/<id>``), so hand-written links keep working.
    """
    candidates = [url]
    path = urlparse(url).path
    marker = path.find(DOC_ROUTE)
    if marker >= 0 and path[marker + len(DOC_ROUTE) :]:
        candidates.insert(0, unquote(path[marker + len(DOC_ROUTE) :]))
    stripped = path.rstrip("/")
    if stripped:
        last = unquote(stripped.rsplit("/", 1)[-1])
        if last:
            candidates.append(last)
    return list(dict.fromkeys(candidates))
