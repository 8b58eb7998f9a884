"""A Search-R1-compatible retrieval server over any :class:`SearchEngine`.

Why: Search-R1, verl's ``SearchTool``, SkyRL, ASearcher, ZeroSearch and their forks all talk to
a retriever over ``POST /retrieve``. Serving our engines behind their exact APIs lets those
trainers use searchgym corpora unchanged (``tests/interop`` runs their own client code). Routes:

``POST /retrieve``
    Search-R1 / verl / ASearcher ``{"queries": [...], "topk": k, "return_scores": b}``, SkyRL
    ``{"query": "...", ...}`` or ZeroSearch ``{"query": "...", "top_k": k}``; answers and limits
    in :mod:`searchgym.serve.dialects` and :mod:`searchgym.serve.schemas`. Every hit carries a
    ``url`` that ``/access`` (and ``GET``) resolves.
``POST /access``
    ``{"ids": [...]}``: every id must exist; any unknown id gives **404** with
    ``{"detail": ..., "unknown_ids": [...]}`` (a strict answer, so a typo is never mistaken for an
    empty page). ``{"urls": [...]}`` is the ASearcher dialect and keeps its contract: HTTP 200 with
    ``{"result": [page_or_null, ...]}``; a url is one from a search result, or names a document
    by its id (``searchgym://doc/<id>``, ``http://host/wiki/<id>``).
``GET /doc/{id}``
    The page of one document (the target of a result's ``url``); 404 for an unknown id.
``GET /health``
    Engine name, corpus size when the engine knows it, limits, and batching counters.

Bad requests get a 4xx whose ``detail`` is one readable sentence; engine failures a 500 for the
affected requests only. Bodies are parsed by hand (not through FastAPI's body model) so that a
client that forgets ``Content-Type: application/json`` (``curl -d``) still works, and so that all
errors share one format.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from searchgym.search.base import SearchEngine, UnknownDocumentError, engine_passages
from searchgym.serve.batcher import EngineFailure, QueryBatcher
from searchgym.serve.dialects import DOC_ROUTE, passage_item, retrieve_payload, url_candidates
from searchgym.serve.guard import (
    ClientError,
    GuardOptions,
    GuardStats,
    RequestGuard,
    SafeJSONResponse,
    error_response,
    parse_json_body,
)
from searchgym.serve.schemas import (
    AccessRequest,
    LimitError,
    RetrieveRequest,
    ServerLimits,
    check_access,
    check_retrieve,
    format_validation_errors,
)
from searchgym.types import Passage

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


class RequestError(Exception):
    """A request the server refuses; becomes ``{"detail": message, **extra}`` with ``status``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


# ---------------------------------------------------------------------- helpers


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Parse a JSON body into ``model`` whatever the Content-Type, with readable errors."""
    try:
        data = parse_json_body(await request.body())
    except ClientError as error:
        raise RequestError(error.status, error.message) from None
    if not isinstance(data, dict):
        raise RequestError(422, f"request body must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestError(422, format_validation_errors(error.errors())) from None


def corpus_size(engine: SearchEngine) -> int | None:
    """The number of passages when the engine exposes it (``len``, ``num_passages``, ...)."""
    try:
        return len(engine)  # type: ignore[arg-type]
    except TypeError:
        pass
    for attribute in ("num_passages", "corpus_size", "size"):
        value = getattr(engine, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    passages = engine_passages(engine)
    try:
        return len(passages) if passages is not None else None
    except TypeError:
        return None


def _lookup(engine: SearchEngine, keys: list[str], by_url: bool) -> list[Passage | None]:
    """Runs on the engine thread: one engine.access per key, None for unknown ones."""
    found: list[Passage | None] = []
    for key in keys:
        passage = None
        for candidate in url_candidates(key) if by_url else [key]:
            try:
                passage = engine.access(candidate)
                break
            except UnknownDocumentError:
                continue
        found.append(passage)
    return found


# ---------------------------------------------------------------------- the app


def create_app(
    engine: SearchEngine,
    *,
    default_topk: int = 3,
    limits: ServerLimits = ServerLimits(),
    batch_window_ms: float = 2.0,
    max_batch: int = 256,
    url_base: str | None = None,
    api_key: str | None = None,
    show_docs: bool = True,
    guard: GuardOptions | None = None,
) -> FastAPI:
    """A FastAPI app serving ``engine`` over the Search-R1 API (see the module docstring).

    ``default_topk`` answers requests without ``topk`` (Search-R1's ``--topk``, default 3).
    Concurrent requests arriving within ``batch_window_ms`` share one ``engine.search`` call of
    at most ``max_batch`` queries (a larger request runs alone; ``limits.max_batch`` caps one
    request). Result urls live under ``url_base`` (default: the base url each request reached,
    so links work from wherever the client stands; set it behind a proxy). ``api_key`` makes
    ``/retrieve``, ``/access`` and ``/doc/`` require it; ``show_docs=False`` removes ``/docs``,
    ``/redoc`` and ``/openapi.json``; ``guard`` sets the concurrency, body-time and memory limits
    (see :mod:`searchgym.serve.guard`).
    """
    if not 1 <= default_topk <= limits.max_topk:
        raise ValueError(f"default_topk must be in [1, max_topk={limits.max_topk}], got {default_topk}")
    batcher = QueryBatcher(engine, window_ms=batch_window_ms, max_batch=max_batch)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await batcher.aclose()

    app = FastAPI(
        title="searchgym retrieval server",
        description="Search-R1-compatible /retrieve and ASearcher-style /access.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
        docs_url="/docs" if show_docs else None,
        redoc_url="/redoc" if show_docs else None,
        openapi_url="/openapi.json" if show_docs else None,
    )
    app.state.engine = engine
    app.state.batcher = batcher
    app.state.limits = limits
    options = guard or GuardOptions(max_body_bytes=limits.max_body_bytes)
    if api_key is not None:
        options = replace(options, api_key=api_key)
    app.state.guard = options
    app.state.guard_stats = guard_stats = GuardStats()
    app.add_middleware(RequestGuard, options=options, stats=guard_stats)

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, error: RequestError) -> JSONResponse:
        return error_response(error.status, error.message, **error.extra)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error in the retrieval server")
        return error_response(500, f"internal server error: {type(error).__name__}: {error}")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "engine": getattr(engine, "name", type(engine).__name__),
            "corpus_size": corpus_size(engine),
            "default_topk": default_topk,
            "limits": limits.to_dict(),
            "batching": {"window_ms": batch_window_ms, "max_batch": max_batch},
            "stats": batcher.stats.to_dict(),
            "guard": {**options.public(), **guard_stats.to_dict()},
        }

    def base_of(request: Request) -> str:
        return url_base if url_base is not None else str(request.base_url)

    @app.post("/retrieve")
    async def retrieve(request: Request) -> JSONResponse:
        body = await parse_body(request, RetrieveRequest)
        try:
            checked = check_retrieve(body, limits, default_topk)
        except LimitError as error:
            raise RequestError(error.status, str(error)) from None
        try:
            results = await batcher.search(checked.queries, checked.topk)
        except EngineFailure as error:
            raise RequestError(500, f"search failed: {error}") from None
        headers = {}
        if checked.truncated:
            headers["X-Searchgym-Truncated-Queries"] = str(checked.truncated)
            logger.info("truncated %d queries to %d characters", checked.truncated, limits.max_query_chars)
        return JSONResponse(retrieve_payload(body, results, base_of(request)), headers=headers)

    @app.get(DOC_ROUTE + "{doc_id:path}")
    async def doc_page(doc_id: str, request: Request) -> JSONResponse:
        (passage,) = await batcher.run(_lookup, engine, [doc_id], False)
        if passage is None:
            raise RequestError(404, f"unknown document id {doc_id!r}", unknown_ids=[doc_id])
        return JSONResponse(passage_item(passage, base_of(request)))

    @app.post("/access")
    async def access(request: Request) -> JSONResponse:
        body = await parse_body(request, AccessRequest)
        try:
            keys = check_access(body, limits)
        except LimitError as error:
            raise RequestError(error.status, str(error)) from None
        by_url = body.urls is not None
        try:
            found = await batcher.run(_lookup, engine, keys, by_url)
        except Exception as error:  # noqa: BLE001 - engine failure, not the client's fault
            raise RequestError(500, f"access failed: {type(error).__name__}: {error}") from None
        if by_url:
            pages = [
                None if passage is None else {**passage_item(passage, base_of(request)), "url": url}
                for url, passage in zip(keys, found)
            ]
            return JSONResponse({"result": pages})
        unknown = [key for key, passage in zip(keys, found) if passage is None]
        if unknown:
            shown = ", ".join(repr(key) for key in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise RequestError(404, f"unknown document id(s): {shown}{more}", unknown_ids=unknown)
        base = base_of(request)
        return JSONResponse({"result": [passage_item(p, base) for p in found if p is not None]})

    return app
