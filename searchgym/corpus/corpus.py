"""The aligned corpus: passages plus the provenance indexes that make rewards trustworthy.

``fact_index`` maps every fact id to the passages that state it. Task generation uses it to
prove each gold fact is findable, and the env uses it to measure evidence recall — the
alignment between graph and text that static Wikipedia dumps lack.

The passages, their id look-up and the corpus's one content hash are a
:class:`~searchgym.search.passage_store.PassageStore` (``corpus.passages``), the same store every
engine built on the corpus uses; the provenance indexes are built on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from searchgym.cache import PartsDigest, atomic_write_lines
from searchgym.search.passage_store import PassageStore, passage_line
from searchgym.types import Passage


class Corpus:
    """An ordered collection of passages with id, page and provenance look-ups.

    ``content_hash`` and ``store_hash`` (its older name) are the hash of the passages recorded
    when the bundle was built; pass either, or neither to have it computed on first use.
    """

    def __init__(
        self,
        world_id: str,
        passages: Iterable[Passage],
        *,
        content_hash: str | None = None,
        store_hash: str | None = None,
    ) -> None:
        self.world_id = world_id
        self.store = PassageStore(passages, allow_empty=True, content_hash=content_hash or store_hash)
        self._fact_index: dict[str, list[str]] | None = None
        self._pages: dict[str, list[str]] | None = None
        self.writer_report: dict | None = None  # set by the LLM writer (searchgym.corpus.rewrite)

    @property
    def passages(self) -> PassageStore:
        """The passages in order: a read-only sequence (indexing, slicing, iteration, ``len``)."""
        return self.store

    @property
    def by_id(self) -> Mapping[str, Passage]:
        """doc id -> passage (a read-only mapping over the store)."""
        return self.store.by_id

    @property
    def pages(self) -> dict[str, list[str]]:
        """entity id -> ids of its page passages, in corpus order (a ``defaultdict``)."""
        if self._pages is None:
            from searchgym.corpus.storage import pages_index

            self._pages = pages_index(self.store)
        return self._pages

    @property
    def fact_index(self) -> dict[str, list[str]]:
        """fact id -> ids of the passages stating it, in corpus order (a ``defaultdict``).
        Built on first use: only task generation and the simulated engine read it."""
        if self._fact_index is None:
            from searchgym.corpus.storage import fact_index

            self._fact_index = fact_index(self.store)
        return self._fact_index

    def __len__(self) -> int:
        return len(self.store)

    def __iter__(self) -> Iterator[Passage]:
        return iter(self.store)

    def __getitem__(self, doc_id: str) -> Passage:
        return self.store.access(doc_id)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.store

    def passages_stating(self, fact_id: str) -> list[str]:
        return list(self.fact_index.get(fact_id, ()))

    def jsonl_lines(self) -> Iterator[str]:
        """One canonical JSON line per passage, in order (what :meth:`save` writes)."""
        return (passage_line(passage) + "\n" for passage in self.store)

    def to_jsonl(self) -> str:
        return "".join(self.jsonl_lines())

    @property
    def content_hash(self) -> str:
        """The corpus's one hash (:attr:`PassageStore.content_hash`: every passage's text and
        provenance, in order); keys the engines built on this corpus."""
        return self.store.content_hash

    @property
    def store_hash(self) -> str:
        """:attr:`content_hash` (its name when corpus and engines had a hash each)."""
        return self.store.content_hash

    def save(self, path: Path) -> None:
        """Write the JSONL file; the one serialisation of each passage also gives
        :attr:`content_hash`, so a build never serialises the corpus twice."""
        digest = PartsDigest()

        def lines() -> Iterator[str]:
            for passage in self.store:
                line = passage_line(passage)
                digest.update(line)
                yield line + "\n"

        atomic_write_lines(path, lines())
        self.store.set_content_hash(digest.hexdigest())

    def save_columns(self, path: Path) -> None:
        """Write the column file a cache hit reads (:mod:`searchgym.corpus.storage`)."""
        from searchgym.corpus.storage import save_corpus_columns

        save_corpus_columns(self, path)

    @classmethod
    def load_columns(
        cls, path: Path, world_id: str, *, content_hash: str | None = None, store_hash: str | None = None
    ) -> Corpus:
        """Read a corpus written by :meth:`save_columns` (raises ``ColumnFileError`` when the
        file is truncated or corrupted); passages are made on access. The hash recorded at
        build time may be passed in."""
        from searchgym.corpus.storage import load_corpus_columns

        return cls(world_id, load_corpus_columns(path, world_id), content_hash=content_hash or store_hash)

    @classmethod
    def load(
        cls, path: Path, world_id: str, *, content_hash: str | None = None, store_hash: str | None = None
    ) -> Corpus:
        """Read a saved corpus; the hash recorded when it was built may be passed in, so it is
        not recomputed (the cache verified the file it was computed from)."""
        with open(path, encoding="utf-8") as handle:
            return cls(
                world_id,
                (Passage.from_dict(json.loads(line)) for line in handle if line.strip()),
                content_hash=content_hash or store_hash,
            )
