"""What every engine shares besides its passages: query cleanup, ``k`` checks, cache resolution.

Why here: each engine (BM25, dense, noisy wrappers) cleans the agent's raw query strings the
same way and gets or builds its on-disk artifacts the same way; keeping that here means an
engine file only contains what is specific to its retrieval method. The passages themselves,
id look-up, ``access`` and the corpus hash are the one store,
:class:`searchgym.search.passage_store.PassageStore`, re-exported here for engine authors.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from searchgym.cache import ArtifactCache
from searchgym.search.base import SearchError
from searchgym.search.passage_store import PassageStore, shorten, store_hash

__all__ = [
    "DEFAULT_CACHE",
    "MAX_QUERY_CHARS",
    "PassageStore",
    "check_k",
    "clean_queries",
    "clean_query",
    "load_or_build_artifact",
    "resolve_cache",
    "shorten",
    "store_hash",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_QUERY_CHARS: Final = 1024
"""Queries longer than this many characters are cut (at a word boundary when possible).

Why: LLM agents sometimes paste whole reasoning traces into a search call. A real query is a
few dozen characters; the limit keeps tokenisation, BM25 scoring (linear in query terms) and
transformer encoding bounded, while 1,024 characters (~170 words) never cuts a genuine query.
"""


class _DefaultCache:
    """Sentinel type for "use the user's default :class:`ArtifactCache`"."""

    _instance: _DefaultCache | None = None

    def __new__(cls) -> _DefaultCache:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


DEFAULT_CACHE: Final = _DefaultCache()
"""Default for engines' ``cache`` argument: the user cache dir (``$SEARCHGYM_CACHE_DIR``).

Pass an :class:`ArtifactCache` to choose the directory, or ``None`` to build in memory only.
"""

CacheArg = ArtifactCache | _DefaultCache | None


def resolve_cache(cache: CacheArg) -> ArtifactCache | None:
    """The cache an engine should use. Resolved at construction time (not import time) so that
    ``$SEARCHGYM_CACHE_DIR`` set by a test or a launcher after import is honoured."""
    if isinstance(cache, _DefaultCache):
        return ArtifactCache()
    if cache is None or isinstance(cache, ArtifactCache):
        return cache
    raise TypeError(f"cache must be an ArtifactCache, None or DEFAULT_CACHE, not {type(cache).__name__}")


def clean_query(query: str) -> str:
    """The query an engine should actually run: stripped, and truncated to
    :data:`MAX_QUERY_CHARS` at a word boundary. An empty result means "no query"."""
    if not isinstance(query, str):
        raise TypeError(f"each query must be a str, got {type(query).__name__}")
    query = query.strip()
    if len(query) <= MAX_QUERY_CHARS:
        return query
    cut = query[:MAX_QUERY_CHARS]
    space = cut.rfind(" ")
    if space > MAX_QUERY_CHARS // 2:
        cut = cut[:space]
    logger.debug("query of %d characters truncated to %d", len(query), len(cut))
    return cut.rstrip()


def clean_queries(queries: Sequence[str]) -> list[str]:
    """:func:`clean_query` over a batch; rejects a bare string, the most common misuse
    (``search("who is X", 5)`` would otherwise search each character)."""
    if isinstance(queries, str):
        raise TypeError("search() takes a list of queries, not a single str: use search([query], k)")
    return [clean_query(query) for query in queries]


def check_k(k: int) -> int:
    """Validate the number of hits requested (``bool`` is rejected: ``True`` is not a count)."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return k


def load_or_build_artifact(
    cache: ArtifactCache,
    namespace: str,
    key: str,
    build: Callable[[Path], tuple[T, dict[str, Any]]],
    load: Callable[[Path], T],
) -> tuple[T, Path, bool]:
    """Get an engine artifact from ``cache``, building it when absent or unusable.

    ``build(tmp_dir)`` writes the files and returns the live object plus manifest metadata, so
    a fresh build is used directly instead of being read back. ``load(entry_dir)`` reads a
    verified entry; if it raises (files intact but unreadable, e.g. written by an incompatible
    library, or not matching the corpus), the entry is deleted and rebuilt once.

    Returns ``(object, entry_dir, loaded_from_cache)``.
    """
    built: list[T] = []

    def build_entry(tmp_dir: Path) -> dict[str, Any]:
        value, meta = build(tmp_dir)
        built.append(value)
        return meta

    for attempt in range(2):
        directory = cache.get_or_build(namespace, key, build_entry)
        if built:
            return built[0], directory, False
        try:
            return load(directory), directory, True
        except Exception as error:
            if attempt:
                message = f"cannot load the {namespace} artifact at {directory}: {error}"
                raise SearchError(message) from error
            logger.warning("%s artifact at %s is unusable (%s); rebuilding it", namespace, directory, error)
            shutil.rmtree(directory, ignore_errors=True)
    raise AssertionError("unreachable")  # pragma: no cover
