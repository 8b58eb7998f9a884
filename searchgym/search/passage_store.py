"""The one passage store: passages in index order, id look-up, ``access``, and the content hash.

Why one: a corpus (:class:`searchgym.corpus.Corpus`) and every engine built on it (BM25, dense,
the noisy wrapper) need the same things: row ``i`` <-> passage, ``access(doc_id)``, and a key
for their on-disk indexes that says *which passages* they were built from. Two stores with two
hashes disagreed about that key and hashed a corpus twice; here there is one store and one
:attr:`PassageStore.content_hash`, computed once when a bundle is built (and kept in its
manifest), or on first use for passages that came from elsewhere.

Lazy: a store read from a bundle's column file (:mod:`searchgym.corpus.storage`) keeps the
columns and makes a :class:`Passage` only when one is asked for or hit (then keeps it), so a
cache hit of 157k passages does not build 157k objects an env never reads (that was two thirds
of the hit); iteration still yields every passage, in order, and index builds read the columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, overload

import numpy as np

from searchgym.cache import content_hash_of, stable_json
from searchgym.search.base import UnknownDocumentError
from searchgym.types import Hit, Passage, filled

_MAX_ID_IN_MESSAGE: Final = 80
MAX_HIT_ROWS: Final = 1 << 18
"""Rows whose hit fields a store keeps ready (:meth:`PassageStore.hits`); cleared when full, so
a long run that hits every row of a large corpus holds at most ~70 MB of them (the one search
that clears them pays ~20 ms, once per 262,144 new rows)."""


def shorten(text: str, limit: int = _MAX_ID_IN_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: keeps error messages readable
    when an agent passes a whole paragraph as a document id."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _title_then_text(title: str, text: str) -> str:
    return f"{title}\n{text}" if title else text


def store_hash(passages: Iterable[Passage]) -> str:
    """:attr:`PassageStore.content_hash` of ``passages``: the digest of their canonical JSON
    lines (:func:`passage_line`), in order."""
    return content_hash_of(map(passage_line, passages))


def passage_line(passage: Passage) -> str:
    """A passage's canonical JSON (a line of ``passages.jsonl`` without its newline)."""
    return stable_json(passage.to_dict())


def new_passage(
    doc_id: str,
    title: str,
    text: str,
    entity_id: str | None,
    section: str,
    facts: tuple[str, ...],
    mentions: tuple[str, ...],
    kind: str,
) -> Passage:
    """A :class:`Passage` from a column file's fields (:func:`searchgym.types.filled`)."""
    return filled(
        Passage,
        doc_id=doc_id,
        title=title,
        text=text,
        entity_id=entity_id,
        section=section,
        facts=facts,
        mentions=mentions,
        kind=kind,
    )


@dataclass(frozen=True, eq=False)
class PassageColumns:
    """A corpus's fields as columns (what :mod:`searchgym.corpus.storage` reads from a file).

    Coded fields are a lookup list (whose last entry is None: code ``-1`` reads it) and one code
    per row; ``facts`` and ``mentions`` are CSR rows (``*_bounds``) of item codes into a table.
    """

    doc_ids: list[str]
    titles: Sequence[str | None]
    title_codes: list[int]
    texts: Sequence[str]
    entity_ids: Sequence[str | None]
    entity_codes: list[int]
    sections: Sequence[str | None]
    section_codes: list[int]
    kinds: Sequence[str | None]
    kind_codes: list[int]
    fact_table: Sequence[str]
    fact_codes: np.ndarray
    fact_bounds: list[int]
    mention_table: Sequence[str]
    mention_codes: np.ndarray
    mention_bounds: list[int]

    def title(self, row: int) -> str:
        return self.titles[self.title_codes[row]]  # type: ignore[return-value]

    def passage(self, row: int) -> Passage:
        low, high = self.fact_bounds[row], self.fact_bounds[row + 1]
        facts = tuple(map(self.fact_table.__getitem__, self.fact_codes[low:high].tolist()))
        low, high = self.mention_bounds[row], self.mention_bounds[row + 1]
        mentions = tuple(map(self.mention_table.__getitem__, self.mention_codes[low:high].tolist()))
        return new_passage(
            self.doc_ids[row],
            self.title(row),
            self.texts[row],
            self.entity_ids[self.entity_codes[row]],
            self.sections[self.section_codes[row]],  # type: ignore[arg-type]
            facts,
            mentions,
            self.kinds[self.kind_codes[row]],  # type: ignore[arg-type]
        )


class PassageStore(Sequence[Passage]):
    """An ordered, read-only corpus: row ``i`` of an engine's index is ``store[i]``.

    ``PassageStore(passages)`` takes any iterable of passages; given another store it shares
    that store's rows, columns and hash (engines built on ``corpus.passages`` copy nothing).
    Doc ids must be unique: a duplicate would make ``access`` ambiguous and provenance wrong,
    so it is an error rather than a silent overwrite. ``in`` accepts a doc id or a passage.
    """

    def __init__(
        self, passages: Iterable[Passage], *, allow_empty: bool = False, content_hash: str | None = None
    ) -> None:
        self._hash: str | None = content_hash
        if isinstance(passages, PassageStore):
            self.__dict__.update(passages.__dict__)
            self._hash = passages._hash or content_hash
            self._check_not_empty(allow_empty)
            return
        made: list[Passage | None] = list(passages)
        rows: dict[str, int] = {}
        for row, passage in enumerate(made):
            if not isinstance(passage, Passage):
                raise TypeError(f"corpus entry {row} is a {type(passage).__name__}, not a Passage")
            if passage.doc_id in rows:
                raise ValueError(
                    f"duplicate doc_id {shorten(passage.doc_id)!r} "
                    f"(rows {rows[passage.doc_id]} and {row}): doc ids must be unique"
                )
            rows[passage.doc_id] = row
        self._made = made
        self._hit_fields: dict[int, dict[str, Any]] = {}
        self._rows = rows
        self._doc_ids: list[str] = list(rows)
        self.columns: PassageColumns | None = None
        self._check_not_empty(allow_empty)

    @classmethod
    def from_columns(cls, columns: PassageColumns, *, content_hash: str | None = None) -> PassageStore:
        """A lazy store over ``columns``; raises ``ValueError`` on a duplicate doc id."""
        store = cls.__new__(cls)
        count = len(columns.doc_ids)
        store._rows = dict(zip(columns.doc_ids, range(count)))
        if len(store._rows) != count:
            raise ValueError("duplicate doc ids in the passage columns")
        store._made = [None] * count
        store._hit_fields = {}
        store._doc_ids, store.columns, store._hash = columns.doc_ids, columns, content_hash
        return store

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the kept hit fields (:meth:`hits`): derived, up to ~70 MB, remade on
        the other side as rows are hit."""
        state = self.__dict__.copy()
        state.pop("_hit_fields", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hit_fields = {}  # also for a store pickled before hit fields were kept

    def _check_not_empty(self, allow_empty: bool) -> None:
        if not self._rows and not allow_empty:
            raise ValueError("the corpus is empty: an engine needs at least one passage")

    # -- the sequence -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._made)

    @overload
    def __getitem__(self, row: int) -> Passage: ...

    @overload
    def __getitem__(self, row: slice) -> list[Passage]: ...

    def __getitem__(self, row: int | slice) -> Passage | list[Passage]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        made = self._made[row]
        if made is None:  # racing threads make equal passages; one of them is kept
            assert self.columns is not None
            made = self._made[row] = self.columns.passage(row if row >= 0 else row + len(self))
        return made

    def __iter__(self) -> Iterator[Passage]:
        if self.columns is None:
            return iter(self._made)  # type: ignore[arg-type]
        return map(self.__getitem__, range(len(self)))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, Passage):
            row = self._rows.get(item.doc_id)
            return row is not None and self[row] == item
        try:
            return item in self._rows
        except TypeError:  # an unhashable id
            return False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (PassageStore, list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(map(Passage.__eq__, self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PassageStore({len(self)} passages{', lazy' if self.columns is not None else ''})"

    @property
    def passages(self) -> PassageStore:
        """The passages in row order (the store itself: a read-only sequence)."""
        return self

    @property
    def doc_ids(self) -> list[str]:
        """Every doc id in row order (read-only; no passage is made)."""
        return self._doc_ids

    @property
    def by_id(self) -> Mapping[str, Passage]:
        """doc id -> passage, as a read-only mapping over this store."""
        return _PassagesById(self)

    # -- look-ups ---------------------------------------------------------------------------
    def row(self, doc_id: str) -> int:
        """The index row of ``doc_id``; raises :class:`UnknownDocumentError`."""
        try:
            return self._rows[doc_id]
        except (KeyError, TypeError):  # TypeError: an unhashable id from a confused caller
            shown = shorten(doc_id) if isinstance(doc_id, str) else repr(doc_id)[:_MAX_ID_IN_MESSAGE]
            raise UnknownDocumentError(
                f"unknown document id {shown!r}: the corpus has {len(self)} passages and none has this id"
            ) from None

    def access(self, doc_id: str) -> Passage:
        """The full passage for ``doc_id`` (the ``<access>`` action)."""
        return self[self.row(doc_id)]

    def get(self, doc_id: str, default: Passage | None = None) -> Passage | None:
        try:
            row = self._rows.get(doc_id)
        except TypeError:
            return default
        return default if row is None else self[row]

    def hit(self, row: int, score: float) -> Hit:
        """The :class:`Hit` an engine returns for index row ``row``."""
        return self.hits([row], [float(score)])[0]

    def hits(self, rows: Iterable[int], scores: Iterable[float]) -> list[Hit]:
        """``[hit(row, score) ...]`` for Python ints and floats, built without ``Hit.__init__``.

        Why: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
        0.7 µs per hit: a quarter of a whole BM25 name query. Filling the instance's ``__dict__``
        gives the same object (fields, equality, hash, pickling; tested); filling it from a
        per-row dict of the fields a hit copies (kept for up to :data:`MAX_HIT_ROWS` rows, made
        on a row's first hit) and then setting the score takes 0.9-1.0 µs less per name query
        of 5 hits than passing the fields by keyword (a scratch A/B on the benchmark's 256
        names: 3.42 -> 2.55 µs on 16k passages, 3.81 -> 2.78 on 142k). A lazy store makes (and
        keeps) the passage of a row on its first hit too: rows an engine returns once it returns
        again.
        """
        templates, new = self._hit_fields, object.__new__
        hits = []
        for row, score in zip(rows, scores):
            fields = templates.get(row)
            if fields is None:
                fields = self._hit_template(row)
            hit = new(Hit)
            attributes = hit.__dict__
            attributes.update(fields)
            attributes["score"] = score
            hits.append(hit)
        return hits

    def _hit_template(self, row: int) -> dict[str, Any]:
        passage = self._made[row] or self[row]
        templates = self._hit_fields
        if len(templates) >= MAX_HIT_ROWS:
            templates.clear()
        # "score" is a placeholder that each hit overwrites; it keeps the fields in Hit's order,
        # so a hit's __dict__ (and its pickle) is the one Hit(...) makes
        fields = templates[row] = {"doc_id": passage.doc_id, "score": 0.0, "title": passage.title, "text": passage.text}
        return fields

    @staticmethod
    def index_text(passage: Passage) -> str:
        """What engines index for a passage: title then text, so name queries match the title."""
        return _title_then_text(passage.title, passage.text)

    def index_texts(self) -> Iterator[str]:
        """:meth:`index_text` of every passage, in row order; a lazy store makes them from its
        columns (an index build does not keep a passage object per row)."""
        if self.columns is None:
            yield from map(self.index_text, self._made)  # type: ignore[arg-type]
            return
        title, texts = self.columns.title, self.columns.texts
        for row in range(len(self)):
            yield _title_then_text(title(row), texts[row])

    # -- identity ---------------------------------------------------------------------------
    @property
    def content_hash(self) -> str:
        """The digest of every passage (all fields, in order; :func:`store_hash`): the identity
        of the corpus and the cache key of every index built from it. Known when the store
        was read from a bundle (hashed at build time); else computed once (the store is
        immutable)."""
        if self._hash is None:
            self._hash = store_hash(self)
        return self._hash

    @property
    def corpus_hash(self) -> str:
        """:attr:`content_hash` (the name engines used before there was one store)."""
        return self.content_hash

    def set_content_hash(self, digest: str) -> None:
        """Record a hash computed while the passages were serialised for another purpose
        (:meth:`searchgym.corpus.Corpus.save`), so it is never computed twice."""
        self._hash = self._hash or digest


class _PassagesById(Mapping[str, Passage]):
    """``store.by_id``: doc id -> passage, without a dict of every passage."""

    __slots__ = ("_store",)

    def __init__(self, store: PassageStore) -> None:
        self._store = store

    def __getitem__(self, doc_id: str) -> Passage:
        row = self._store._rows[doc_id]
        return self._store[row]

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.doc_ids)

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, doc_id: object) -> bool:
        try:
            return doc_id in self._store._rows
        except TypeError:
            return False
