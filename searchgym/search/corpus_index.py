"""The corpus side every engine shares: id lookup, ``access``, the corpus hash, hits, queries.

Why one class: each engine (BM25, dense, noisy wrappers) needs the same four things — map a row
of its index back to a :class:`Passage`, answer ``access(doc_id)``, key its on-disk cache by
*what corpus it was built from*, and clean up the agent's raw query strings the same way. Keeping
them here means an engine file only contains what is specific to its retrieval method.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Final, TypeVar

from searchgym.cache import ArtifactCache, content_hash_of, stable_json
from searchgym.search.base import SearchError, UnknownDocumentError
from searchgym.types import Hit, Passage

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_QUERY_CHARS: Final = 1024
"""Queries longer than this many characters are cut (at a word boundary when possible).

Why: LLM agents sometimes paste whole reasoning traces into a search call. A real query is a
few dozen characters; the limit keeps tokenisation, BM25 scoring (linear in query terms) and
transformer encoding bounded, while 1,024 characters (~170 words) never cuts a genuine query.
"""

_MAX_ID_IN_MESSAGE: Final = 80


def shorten(text: str, limit: int = _MAX_ID_IN_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: keeps error messages readable
    when an agent passes a whole paragraph as a document id."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class _DefaultCache:
    """Sentinel type for "use the user's default :class:`ArtifactCache`"."""

    _instance: "_DefaultCache | None" = None

    def __new__(cls) -> "_DefaultCache":
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


class PassageStore:
    """An ordered, read-only corpus: row ``i`` of an engine's index is ``passages[i]``.

    Doc ids must be unique; a duplicate would make ``access`` ambiguous and provenance
    (which passage states which fact) wrong, so it is an error rather than a silent overwrite.
    """

    def __init__(self, passages: Iterable[Passage], *, allow_empty: bool = False) -> None:
        known_hash = getattr(passages, "store_hash", None)  # a corpus read from the cache knows it
        self._passages: tuple[Passage, ...] = tuple(passages)
        if isinstance(known_hash, str):
            self.__dict__["corpus_hash"] = known_hash
        if not self._passages and not allow_empty:
            raise ValueError("the corpus is empty: an engine needs at least one passage")
        self._rows: dict[str, int] = {}
        for row, passage in enumerate(self._passages):
            if not isinstance(passage, Passage):
                raise TypeError(f"corpus entry {row} is a {type(passage).__name__}, not a Passage")
            if passage.doc_id in self._rows:
                raise ValueError(
                    f"duplicate doc_id {shorten(passage.doc_id)!r} "
                    f"(rows {self._rows[passage.doc_id]} and {row}): doc ids must be unique"
                )
            self._rows[passage.doc_id] = row

    def __len__(self) -> int:
        return len(self._passages)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._rows

    @property
    def passages(self) -> tuple[Passage, ...]:
        return self._passages

    def __getitem__(self, row: int) -> Passage:
        return self._passages[row]

    def row(self, doc_id: str) -> int:
        """The index row of ``doc_id``; raises :class:`UnknownDocumentError`."""
        try:
            return self._rows[doc_id]
        except (KeyError, TypeError):  # TypeError: an unhashable id from a confused caller
            shown = shorten(doc_id) if isinstance(doc_id, str) else repr(doc_id)[:_MAX_ID_IN_MESSAGE]
            raise UnknownDocumentError(
                f"unknown document id {shown!r}: the corpus has {len(self)} passages "
                "and none has this id"
            ) from None

    def access(self, doc_id: str) -> Passage:
        """The full passage for ``doc_id`` (the ``<access>`` action)."""
        return self._passages[self.row(doc_id)]

    def get(self, doc_id: str) -> Passage | None:
        row = self._rows.get(doc_id)
        return None if row is None else self._passages[row]

    def hit(self, row: int, score: float) -> Hit:
        """The :class:`Hit` an engine returns for index row ``row``."""
        passage = self._passages[row]
        return Hit(doc_id=passage.doc_id, score=float(score), title=passage.title, text=passage.text)

    def hits(self, rows: Iterable[int], scores: Iterable[float]) -> list[Hit]:
        """``[hit(row, score) ...]`` for Python ints and floats, built without ``Hit.__init__``.

        Why: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
        0.7 µs per hit: a quarter of a whole BM25 name query. Filling the instance's ``__dict__``
        gives the same object (fields, equality, hash, pickling; tested) in 0.3 µs.
        """
        passages, new = self._passages, object.__new__
        made = []
        for row, score in zip(rows, scores):
            passage = passages[row]
            hit = new(Hit)
            hit.__dict__.update(doc_id=passage.doc_id, score=score, title=passage.title, text=passage.text)
            made.append(hit)
        return made

    @staticmethod
    def index_text(passage: Passage) -> str:
        """What engines index for a passage: title then text, so name queries match the title."""
        return f"{passage.title}\n{passage.text}" if passage.title else passage.text

    @cached_property
    def corpus_hash(self) -> str:
        """A content hash of every passage (all fields, in order): the cache key of any index
        built from this corpus. Computed once; the store is immutable. A passage list that
        carries a ``store_hash`` (:class:`searchgym.corpus.corpus.PassageList`, hashed when its
        bundle was built) is trusted instead of re-serialising every passage."""
        return store_hash(self._passages)


def store_hash(passages: Iterable[Passage]) -> str:
    """:attr:`PassageStore.corpus_hash` of ``passages``: the digest of their canonical JSON."""
    return content_hash_of(stable_json(passage.to_dict()) for passage in passages)


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
            logger.warning(
                "%s artifact at %s is unusable (%s); rebuilding it", namespace, directory, error
            )
            shutil.rmtree(directory, ignore_errors=True)
    raise AssertionError("unreachable")  # pragma: no cover
