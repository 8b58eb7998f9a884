"""Request models and limits of the retrieval server.

Why pydantic models *and* a separate limits check: the models pin the wire types (strictly, so
``"topk": "3"`` or ``"queries": [1, 2]`` is refused instead of silently coerced), while the limits
are server configuration (:class:`ServerLimits`) that a static model cannot know. The app calls
:func:`check_retrieve` / :func:`check_access` after parsing and turns the :class:`LimitError` they
raise into a 422 with a message a human can act on (an oversized body is a 413, see the app).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


@dataclass(frozen=True)
class ServerLimits:
    """Upper bounds that keep one request from monopolising the server.

    ``max_batch`` bounds the queries (or ids) of one request, ``max_query_chars`` the length of
    one query, ``max_topk`` the hits per query, ``max_body_bytes`` the raw request body (checked by
    a middleware before any JSON parsing).
    """

    max_batch: int = 256
    max_query_chars: int = 2048
    max_topk: int = 100
    max_body_bytes: int = 1_000_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ServerLimits.{name} must be a positive int, got {value!r}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class LimitError(ValueError):
    """A well-typed request that breaks a server limit; ``status`` is the HTTP code to answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class RetrieveRequest(BaseModel):
    """``POST /retrieve`` body, in either dialect.

    Search-R1 and verl send ``queries`` (a batch); SkyRL sends a single ``query``. Exactly one of
    the two must be present. ``topk`` falls back to the server's default, as in Search-R1.
    Unknown fields are ignored so that clients adding their own keys keep working.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    queries: list[str] | None = None
    query: str | None = None
    topk: int | None = None
    return_scores: bool = False

    @model_validator(mode="after")
    def _one_query_form(self) -> "RetrieveRequest":
        if self.queries is None and self.query is None:
            raise ValueError("give either 'queries' (a list of strings) or 'query' (one string)")
        if self.queries is not None and self.query is not None:
            raise ValueError("give either 'queries' or 'query', not both")
        return self

    @property
    def single(self) -> bool:
        """True for the SkyRL form (``query``)."""
        return self.query is not None

    def query_list(self) -> list[str]:
        return [self.query] if self.query is not None else list(self.queries or [])


class AccessRequest(BaseModel):
    """``POST /access`` body: document ``ids`` (ours) or ``urls`` (the ASearcher dialect)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    ids: list[str] | None = None
    urls: list[str] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> "AccessRequest":
        if self.ids is None and self.urls is None:
            raise ValueError("give either 'ids' or 'urls' (a list of strings)")
        if self.ids is not None and self.urls is not None:
            raise ValueError("give either 'ids' or 'urls', not both")
        return self

    def keys(self) -> list[str]:
        return list(self.ids if self.ids is not None else self.urls or [])


def check_retrieve(request: RetrieveRequest, limits: ServerLimits, default_topk: int) -> int:
    """Enforce ``limits`` on a parsed request; return the effective ``topk``."""
    queries = request.query_list()
    if not queries:
        raise LimitError("'queries' is empty: send at least one query")
    if len(queries) > limits.max_batch:
        raise LimitError(
            f"too many queries: {len(queries)} > max_batch {limits.max_batch}; "
            "split the batch into several requests"
        )
    for index, query in enumerate(queries):
        if len(query) > limits.max_query_chars:
            where = "'query'" if request.single else f"queries[{index}]"
            raise LimitError(
                f"{where} is too long: {len(query)} characters > max_query_chars "
                f"{limits.max_query_chars}"
            )
    topk = default_topk if request.topk is None else request.topk
    if topk < 1:
        raise LimitError(f"'topk' must be at least 1, got {topk}")
    if topk > limits.max_topk:
        raise LimitError(f"'topk' is too large: {topk} > max_topk {limits.max_topk}")
    return topk


def check_access(request: AccessRequest, limits: ServerLimits) -> list[str]:
    """Enforce ``limits`` on a parsed access request; return the ids or urls asked for."""
    keys = request.keys()
    field = "ids" if request.ids is not None else "urls"
    if not keys:
        raise LimitError(f"'{field}' is empty: send at least one")
    if len(keys) > limits.max_batch:
        raise LimitError(f"too many {field}: {len(keys)} > max_batch {limits.max_batch}")
    return keys


def format_validation_errors(errors: list[dict[str, Any]]) -> str:
    """One readable line out of pydantic's error list (``loc: msg; loc: msg``)."""
    parts = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        message = str(error.get("msg", "invalid value"))
        message = message.removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "invalid request: " + "; ".join(parts)
