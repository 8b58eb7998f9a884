"""The aligned corpus: passages plus the provenance indexes that make rewards trustworthy.

``fact_index`` maps every fact id to the passages that state it. Task generation uses it to
prove each gold fact is findable, and the env uses it to measure evidence recall — the
alignment between graph and text that static Wikipedia dumps lack.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from searchgym.cache import PartsDigest, atomic_write_lines, content_hash_of, stable_json
from searchgym.search.base import UnknownDocumentError
from searchgym.types import Passage


class PassageList(list[Passage]):
    """A corpus's passages, optionally carrying their precomputed engine-cache hash.

    Why: engines key their on-disk indexes by a hash of every passage, and re-serialising a
    100k-passage corpus for it on every cache hit cost seconds; the bundle computes it once at
    build time, stores it in its manifest, and hands it over with the list.
    """

    store_hash: str | None = None


class Corpus:
    """An ordered collection of passages with id, page and provenance look-ups."""

    def __init__(self, world_id: str, passages: Iterable[Passage], *, content_hash: str | None = None,
                 store_hash: str | None = None) -> None:
        self.world_id = world_id
        self.passages: PassageList = PassageList(passages)
        self.passages.store_hash = store_hash
        self.by_id: dict[str, Passage] = {}
        fact_index: dict[str, list[str]] = defaultdict(list)
        self.pages: dict[str, list[str]] = defaultdict(list)
        for passage in self.passages:
            if passage.doc_id in self.by_id:
                raise ValueError(f"duplicate passage id {passage.doc_id!r}")
            self.by_id[passage.doc_id] = passage
            for fact_id in passage.facts:
                fact_index[fact_id].append(passage.doc_id)
            if passage.entity_id is not None and passage.kind == "page":
                self.pages[passage.entity_id].append(passage.doc_id)
        self._fact_index: dict[str, list[str]] | None = fact_index
        self._build_fact_index: Callable[[], dict[str, list[str]]] | None = None
        self._hash: str | None = content_hash
        self.writer_report: dict | None = None  # set by the LLM writer (searchgym.corpus.rewrite)

    @classmethod
    def assemble(cls, world_id: str, passages: list[Passage], by_id: dict[str, Passage],
                 pages: dict[str, list[str]], build_fact_index: Callable[[], dict[str, list[str]]], *,
                 content_hash: str | None = None, store_hash: str | None = None) -> Corpus:
        """A corpus from indexes its caller already built (:mod:`searchgym.corpus.storage`
        derives them from columns in bulk): they must be what ``__init__`` would build. The
        fact index is built by ``build_fact_index`` on first use: only task generation and the
        simulated engine read it, and it is a third of loading a corpus."""
        corpus = cls.__new__(cls)
        corpus.world_id = world_id
        corpus.passages = PassageList(passages)
        corpus.passages.store_hash = store_hash
        corpus.by_id, corpus.pages = by_id, pages
        corpus._fact_index, corpus._build_fact_index = None, build_fact_index
        corpus._hash = content_hash
        corpus.writer_report = None
        return corpus

    @property
    def fact_index(self) -> dict[str, list[str]]:
        """fact id -> ids of the passages stating it, in corpus order (a ``defaultdict``)."""
        if self._fact_index is None:
            assert self._build_fact_index is not None
            self._fact_index, self._build_fact_index = self._build_fact_index(), None
        return self._fact_index

    def __len__(self) -> int:
        return len(self.passages)

    def __iter__(self) -> Iterator[Passage]:
        return iter(self.passages)

    def __getitem__(self, doc_id: str) -> Passage:
        try:
            return self.by_id[doc_id]
        except KeyError:
            shown = doc_id if len(doc_id) <= 80 else doc_id[:77] + "..."
            raise UnknownDocumentError(f"unknown document id {shown!r}") from None

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.by_id

    def passages_stating(self, fact_id: str) -> list[str]:
        return list(self.fact_index.get(fact_id, ()))

    def jsonl_lines(self) -> Iterator[str]:
        """One canonical JSON line per passage, in order (what :meth:`save` writes)."""
        return (stable_json(passage.to_dict()) + "\n" for passage in self.passages)

    def to_jsonl(self) -> str:
        return "".join(self.jsonl_lines())

    @property
    def content_hash(self) -> str:
        """Hash of the world id and every passage's text and provenance, in order (streamed:
        never the whole JSONL in memory); keys the engines built on this corpus."""
        if self._hash is None:
            self._hash = content_hash_of(itertools.chain([self.world_id], self.jsonl_lines()))
        return self._hash

    def save(self, path: Path) -> None:
        """Write the JSONL file; the one serialisation of each passage also feeds both hashes
        (:attr:`content_hash`, :attr:`store_hash`), so a build never serialises it thrice."""
        content, store = PartsDigest(), PartsDigest()
        content.update(self.world_id)

        def lines() -> Iterator[str]:
            for passage in self.passages:
                line = stable_json(passage.to_dict())
                store.update(line)
                line += "\n"
                content.update(line)
                yield line

        atomic_write_lines(path, lines())
        self._hash = self._hash or content.hexdigest()
        self.passages.store_hash = self.passages.store_hash or store.hexdigest()

    def save_columns(self, path: Path) -> None:
        """Write the column file a cache hit reads (:mod:`searchgym.corpus.storage`)."""
        from searchgym.corpus.storage import save_corpus_columns

        save_corpus_columns(self, path)

    @classmethod
    def load_columns(cls, path: Path, world_id: str, *, content_hash: str | None = None,
                     store_hash: str | None = None) -> Corpus:
        """Read a corpus written by :meth:`save_columns` (raises ``ColumnFileError`` when the
        file is truncated or corrupted); hashes recorded at build time may be passed in."""
        from searchgym.corpus.storage import load_corpus_columns

        return load_corpus_columns(path, world_id, content_hash=content_hash, store_hash=store_hash)

    @property
    def store_hash(self) -> str:
        """The engines' cache key of these passages (:func:`searchgym.search.corpus_index.store_hash`)."""
        if self.passages.store_hash is None:
            from searchgym.search.corpus_index import store_hash

            self.passages.store_hash = store_hash(self.passages)
        return self.passages.store_hash

    @classmethod
    def load(cls, path: Path, world_id: str, *, content_hash: str | None = None,
             store_hash: str | None = None) -> Corpus:
        """Read a saved corpus; hashes recorded when it was built may be passed in, so they are
        not recomputed (the cache verified the file they were computed from)."""
        with open(path, encoding="utf-8") as handle:
            return cls(world_id, (Passage.from_dict(json.loads(line)) for line in handle if line.strip()),
                       content_hash=content_hash, store_hash=store_hash)
