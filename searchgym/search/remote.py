"""A :class:`SearchEngine` backed by any server speaking the Search-R1 ``/retrieve`` API.

Why: the same environment code should run against an in-process engine, our own retrieval server
(:mod:`searchgym.serve`), or an existing Search-R1 / verl / ASearcher server shared by many
rollout workers. This client sends ``{"queries": [...], "topk": k, "return_scores": true}`` (the
form every Search-R1 client sends) in chunks, tolerates both document shapes (dense
``id``/``contents`` and BM25 ``title``/``text``/``contents``), retries what is worth retrying
(connection errors, timeouts, 5xx, 429) with exponential backoff, and turns everything else into a
:class:`SearchError` that says what went wrong and where.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from types import TracebackType
from typing import Any

import httpx

from searchgym.search.base import SearchError, UnknownDocumentError
from searchgym.search.engine_option_values import check_option_values
from searchgym.types import Hit, Passage

logger = logging.getLogger(__name__)

_RETRY_STATUS = {429, 500, 502, 503, 504}
API_KEY_ENV = "SEARCHGYM_API_KEY"
"""Environment variable holding the retrieval server's API key (read by server and client)."""
_MAX_RETRY_AFTER_S = 30.0


def split_contents(contents: str) -> tuple[str, str]:
    """Search-R1 ``contents`` (``"Title"\\ntext``) to ``(title, text)``.

    The title is the first line without its surrounding quotes, the text the rest; a one-line
    ``contents`` has an empty title (as Search-R1's client renders it).
    """
    if "\n" not in contents:
        return "", contents.strip()
    first, rest = contents.split("\n", 1)
    title = first.strip()
    if len(title) >= 2 and title[0] == title[-1] == '"':
        title = title[1:-1]
    return title, rest.strip()


def parse_document(doc: Any) -> tuple[str, str, str]:
    """``(doc_id, title, text)`` of a wire document of any known shape.

    A document without an id (Search-R1's Pyserini BM25 server sends none) gets a stable id
    derived from its contents, so hits stay distinguishable; such ids cannot be ``access``-ed.
    """
    if not isinstance(doc, dict):
        raise SearchError(f"malformed document in server answer: {doc!r:.200}")
    title, text = doc.get("title"), doc.get("text")
    contents = doc.get("contents")
    if not isinstance(title, str) or not isinstance(text, str):
        if not isinstance(contents, str):
            raise SearchError(f"document has neither title/text nor contents: {doc!r:.200}")
        title, text = split_contents(contents)
    doc_id = doc.get("id", doc.get("doc_id", doc.get("docid")))
    if doc_id is None:
        basis = contents if isinstance(contents, str) else f'"{title}"\n{text}'
        doc_id = "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()[:16]
    return str(doc_id), title, text


def parse_hit(item: Any) -> Hit:
    """One element of a per-query result list: ``{"document", "score"}`` or a bare document."""
    if isinstance(item, dict) and isinstance(item.get("document"), dict):
        doc, score = item["document"], item.get("score")
    else:
        doc, score = item, None
    doc_id, title, text = parse_document(doc)
    try:
        value = float(score) if score is not None else 0.0
    except (TypeError, ValueError):
        raise SearchError(f"malformed score in server answer: {score!r:.100}") from None
    return Hit(doc_id=doc_id, score=value, title=title, text=text)


def _detail(response: httpx.Response) -> str:
    """The server's error message (``detail``) or the start of the raw body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:500]
    return str(data)[:300]


class RemoteEngine:
    """Search through an HTTP retrieval server (ours, Search-R1's, verl's, ASearcher's).

    ``url`` is the server base (``http://host:8000``) or its ``/retrieve`` url. ``max_retries``
    counts retries after the first attempt; the n-th retry waits ``backoff * 2**n`` seconds (or
    the server's ``Retry-After`` on 429, capped at 30 s). Queries go out in chunks of
    ``batch_size``. Thread-safe: one pooled :class:`httpx.Client` serves all threads.
    ``api_key`` (default: ``$SEARCHGYM_API_KEY``) is sent as ``Authorization: Bearer <key>``
    to a server started with ``--api-key``. The engine pickles (a new connection pool is opened
    on the other side), so envs using it can be shipped to Ray workers.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        batch_size: int = 64,
        name: str = "remote",
        headers: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> None:
        check_option_values(
            "remote",
            {"url": url, "timeout": timeout, "max_retries": max_retries, "backoff": backoff, "batch_size": batch_size},
        )
        base = url.strip().rstrip("/")
        for suffix in ("/retrieve", "/access", "/health"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
                break
        self.base_url = base
        self.retrieve_url = base + "/retrieve"
        self.access_url = base + "/access"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.batch_size = batch_size
        self.name = name
        self.headers = dict(headers or {})
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if key:
            self.headers.setdefault("Authorization", f"Bearer {key}")
        self._client = self._new_client()

    def _new_client(self) -> httpx.Client:
        # trust_env=False: a proxy from the environment must not hijack a loopback retriever.
        return httpx.Client(timeout=self.timeout, headers=self.headers, trust_env=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None  # sockets do not pickle: a fresh pool on the other side
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client = self._new_client()

    # ------------------------------------------------------------------ SearchEngine

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """Top-``k`` hits per query, in order; raises :class:`SearchError` on failure."""
        if isinstance(queries, str):
            raise TypeError("search() takes a list of queries, not one string")
        if not queries:
            return []
        if k < 1:
            return [[] for _ in queries]
        results: list[list[Hit]] = []
        for start in range(0, len(queries), self.batch_size):
            chunk = list(queries[start : start + self.batch_size])
            results.extend(self._search_chunk(chunk, k))
        return results

    def access(self, doc_id: str) -> Passage:
        """The full passage ``doc_id`` via ``POST /access``.

        Raises :class:`UnknownDocumentError` when the server does not know the id, and
        :class:`SearchError` when the server has no ``/access`` route (Search-R1 servers).
        """
        response = self._post(self.access_url, {"ids": [doc_id]}, what="access")
        if response.status_code == 404:
            try:
                data = response.json()
            except ValueError:
                data = None
            if isinstance(data, dict) and "unknown_ids" in data:
                raise UnknownDocumentError(f"unknown document id {doc_id!r} on {self.base_url}")
            raise SearchError(
                f"server {self.base_url} has no /access endpoint (Search-R1 servers only offer "
                "/retrieve); page reads need a searchgym or ASearcher server"
            )
        if response.status_code == 405:
            raise SearchError(f"server {self.base_url} does not accept POST /access")
        self._raise_for_status(response, "access")
        data = self._json_or_none(response)
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list) or len(result) != 1:
            raise SearchError(f"malformed /access answer from {self.base_url}: {data!r:.200}")
        if result[0] is None:
            raise UnknownDocumentError(f"unknown document id {doc_id!r} on {self.base_url}")
        found_id, title, text = parse_document(result[0])
        return Passage(doc_id=found_id, title=title, text=text)

    # ------------------------------------------------------------------ plumbing

    def _search_chunk(self, queries: list[str], k: int) -> list[list[Hit]]:
        payload = {"queries": queries, "topk": k, "return_scores": True}
        response = self._post(self.retrieve_url, payload, what="search")
        if response.status_code == 404:
            raise SearchError(f"no /retrieve endpoint at {self.retrieve_url} (HTTP 404: {_detail(response)})")
        self._raise_for_status(response, "search")
        data = self._json_or_none(response)
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list) or len(result) != len(queries):
            got = len(result) if isinstance(result, list) else "no result list"
            raise SearchError(
                f"malformed /retrieve answer from {self.retrieve_url}: expected {len(queries)} result lists, got {got}"
            )
        hits: list[list[Hit]] = []
        for per_query in result:
            if not isinstance(per_query, list):
                raise SearchError(f"malformed per-query result: {per_query!r:.200}")
            hits.append([parse_hit(item) for item in per_query][:k])
        return hits

    def _post(self, url: str, payload: dict[str, Any], *, what: str) -> httpx.Response:
        """POST with retries on transport errors, 5xx and 429; return the final response."""
        attempt = 0
        while True:
            try:
                response = self._client.post(url, json=payload)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
                wait = self.backoff * 2**attempt
            else:
                if response.status_code not in _RETRY_STATUS:
                    return response
                problem = f"HTTP {response.status_code}: {_detail(response)}"
                wait = self.backoff * 2**attempt
                if response.status_code == 429:
                    wait = max(wait, self._retry_after(response))
                if attempt >= self.max_retries:
                    return response
            if attempt >= self.max_retries:
                raise SearchError(f"{what} request to {url} failed after {attempt + 1} attempt(s): {problem}")
            logger.warning(
                "%s request to %s failed (%s); retry %d/%d in %.2fs",
                what,
                url,
                problem,
                attempt + 1,
                self.max_retries,
                wait,
            )
            time.sleep(wait)
            attempt += 1

    @staticmethod
    def _retry_after(response: httpx.Response) -> float:
        try:
            return min(float(response.headers.get("retry-after", 0)), _MAX_RETRY_AFTER_S)
        except ValueError:
            return 0.0

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        kind = "server error" if response.status_code >= 500 else "request refused"
        retried = f" after {self.max_retries + 1} attempts" if response.status_code in _RETRY_STATUS else ""
        raise SearchError(
            f"{what} {kind} by {self.base_url}{retried}: HTTP {response.status_code}: {_detail(response)}"
        )

    def _json_or_none(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SearchError(
                f"{self.base_url} answered HTTP {response.status_code} with non-JSON body: {response.text[:200]!r}"
            ) from None

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteEngine({self.base_url!r}, name={self.name!r})"
