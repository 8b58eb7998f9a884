"""Request models and limits of the retrieval server: every client's dialect, one contract.

Why lax models: Search-R1's own server parses ``/retrieve`` with a plain (lax) pydantic model,
so its clients and forks send ``"topk": "3"``, ``3.0`` or ``"return_scores": "true"`` and get an
answer; ``topk`` 0 or null means the server default (``if not request.topk``). We accept exactly
what that model accepts (``tests/interop`` checks it against the upstream class), plus the other
dialects: SkyRL's single ``query`` and ZeroSearch's ``{"query", "top_k"}``. Limits are server
configuration (:class:`ServerLimits`) that a static model cannot know; :func:`check_retrieve`
applies them after parsing, and the app turns the :class:`LimitError` into a 4xx.

What the limits do (documented in the README):

* an empty ``queries`` list answers ``{"result": []}`` (a training turn in which nobody searched);
* more than ``max_batch`` queries (default 4,096: Search-R1's 512 prompts x 5 rollouts fit) is a
  422 that says to split the batch;
* a query over ``max_query_chars`` is *truncated* (its batch still runs; the response header
  ``X-Searchgym-Truncated-Queries`` counts them): one runaway generation must not fail 2,559
  well-formed queries with it;
* a negative ``topk``, or one above ``max_topk``, is a 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Dialect = Literal["search-r1", "skyrl", "zerosearch"]


@dataclass(frozen=True)
class ServerLimits:
    """Upper bounds that keep one request from monopolising the server.

    ``max_batch`` bounds the queries (or ids) of one request, ``max_query_chars`` the length a
    query is cut to, ``max_topk`` the hits per query, ``max_body_bytes`` the raw request body
    (checked by a middleware before any JSON parsing; 16 MiB holds 4,096 queries of 2,048
    characters with their JSON quoting).
    """

    max_batch: int = 4096
    max_query_chars: int = 2048
    max_topk: int = 100
    max_body_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ServerLimits.{name} must be a positive int, got {value!r}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class LimitError(ValueError):
    """A well-typed request that breaks a server limit; ``status`` is the HTTP code to answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class RetrieveRequest(BaseModel):
    """``POST /retrieve`` body, in any of the three dialects.

    * Search-R1 / verl / ASearcher: ``{"queries": [...], "topk": k, "return_scores": b}``;
    * SkyRL: ``{"query": "...", "topk": k, "return_scores": b}`` (one-element outer list back);
    * ZeroSearch's wiki retriever: ``{"query": "...", "top_k": k}`` (a bare list back).

    Exactly one of ``queries`` / ``query`` must be present; ``topk`` and ``top_k`` are two
    spellings of one field. Unknown fields are ignored so clients adding keys keep working.
    """

    model_config = ConfigDict(extra="ignore")

    queries: list[str] | None = None
    query: str | None = None
    topk: int | None = None
    top_k: int | None = None
    return_scores: bool = False

    @model_validator(mode="after")
    def _one_query_form(self) -> RetrieveRequest:
        if self.queries is None and self.query is None:
            raise ValueError("give either 'queries' (a list of strings) or 'query' (one string)")
        if self.queries is not None and self.query is not None:
            raise ValueError("give either 'queries' or 'query', not both")
        if self.topk and self.top_k and self.topk != self.top_k:
            raise ValueError(f"'topk' ({self.topk}) and 'top_k' ({self.top_k}) disagree; send one")
        return self

    @property
    def dialect(self) -> Dialect:
        """Which client shape this is, which decides the response shape."""
        if self.queries is not None:
            return "search-r1"
        return "zerosearch" if "top_k" in self.model_fields_set and "topk" not in self.model_fields_set else "skyrl"

    @property
    def single(self) -> bool:
        """True for the one-query forms (SkyRL, ZeroSearch)."""
        return self.query is not None

    def requested_topk(self) -> int | None:
        """The ``topk`` asked for; None (and 0, as in Search-R1) means the server default."""
        return self.topk or self.top_k or None

    def query_list(self) -> list[str]:
        return [self.query] if self.query is not None else list(self.queries or [])


class AccessRequest(BaseModel):
    """``POST /access`` body: document ``ids`` (ours) or ``urls`` (the ASearcher dialect)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    ids: list[str] | None = None
    urls: list[str] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> AccessRequest:
        if self.ids is None and self.urls is None:
            raise ValueError("give either 'ids' or 'urls' (a list of strings)")
        if self.ids is not None and self.urls is not None:
            raise ValueError("give either 'ids' or 'urls', not both")
        return self

    def keys(self) -> list[str]:
        return list(self.ids if self.ids is not None else self.urls or [])


@dataclass(frozen=True)
class CheckedRetrieve:
    """A request that passed the limits: what to search and how many of the queries were cut."""

    queries: list[str]
    topk: int
    truncated: int


def check_retrieve(request: RetrieveRequest, limits: ServerLimits, default_topk: int) -> CheckedRetrieve:
    """Enforce ``limits`` on a parsed request (see the module docstring for what each does)."""
    queries = request.query_list()
    if len(queries) > limits.max_batch:
        raise LimitError(
            f"too many queries: {len(queries)} > max_batch {limits.max_batch}; "
            "split the batch into several requests or start the server with a larger --max-batch"
        )
    topk = request.requested_topk()
    topk = default_topk if topk is None else topk
    if topk < 1:
        raise LimitError(f"'topk' must be at least 1 (0 or null for the server default), got {topk}")
    if topk > limits.max_topk:
        raise LimitError(f"'topk' is too large: {topk} > max_topk {limits.max_topk}")
    cap = limits.max_query_chars
    truncated = sum(len(query) > cap for query in queries)
    if truncated:
        queries = [query[:cap] for query in queries]
    return CheckedRetrieve(queries, topk, truncated)


def check_access(request: AccessRequest, limits: ServerLimits) -> list[str]:
    """Enforce ``limits`` on a parsed access request; return the ids or urls asked for."""
    keys = request.keys()
    field = "ids" if request.ids is not None else "urls"
    if not keys:
        raise LimitError(f"'{field}' is empty: send at least one")
    if len(keys) > limits.max_batch:
        raise LimitError(f"too many {field}: {len(keys)} > max_batch {limits.max_batch}")
    return keys


def format_validation_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """One readable line out of pydantic's error list (``loc: msg; loc: msg``)."""
    parts = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        message = str(error.get("msg", "invalid value"))
        message = message.removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "invalid request: " + "; ".join(parts)
