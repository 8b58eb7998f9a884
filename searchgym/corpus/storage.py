"""A corpus as a column file, and the corpus's provenance indexes built from its store.

Why columns: reading 157k passages back from JSON lines took 12 s of ``json.loads`` plus 10 s of
index building per process, and every vector-env worker or Ray actor pays it. Here each field is
a column (:mod:`searchgym.columns`): ids are a UTF-8 blob, texts and fact ids are *indexed*
blobs (each value decoded when it is read), titles, sections, kinds and entity ids are tables
of distinct values with int32 codes, and the fact and mention lists are CSR rows over coded
items. Loading checks the columns and hands them to a lazy
:class:`~searchgym.search.passage_store.PassageStore`: no passage is made until one is read.
The provenance index (``fact_index``) of such a store is built with one stable ``argsort`` of
the fact codes, not by walking passages.

The JSONL file stays the exchange format (:meth:`Corpus.save`; ``jq``, Search-R1's corpus
loaders); the column file is a cache of the same passages, and round-trips them exactly.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from searchgym.columns import ColumnFileError, ColumnReader, ColumnWriter
from searchgym.search.passage_store import PassageColumns, PassageStore

if TYPE_CHECKING:
    from searchgym.corpus.corpus import Corpus

CORPUS_COLUMNS_VERSION = 2
"""2: texts and the fact table are indexed string columns (read on demand)."""
_KIND = "searchgym-corpus"


def save_corpus_columns(corpus: Corpus, path: Path) -> None:
    """Write ``corpus``'s passages as a column file at ``path`` (atomically)."""
    passages = corpus.passages
    columns = ColumnWriter()
    columns.add_strings("doc_id", [p.doc_id for p in passages])
    columns.add_coded("title", [p.title for p in passages])
    columns.add_indexed_strings("text", [p.text for p in passages])
    columns.add_coded("entity_id", [p.entity_id for p in passages])
    columns.add_coded("section", [p.section for p in passages])
    columns.add_coded("kind", [p.kind for p in passages])
    columns.add_lists("facts", [p.facts for p in passages], indexed=True)
    columns.add_lists("mentions", [p.mentions for p in passages])
    columns.write(
        path, {"kind": _KIND, "version": CORPUS_COLUMNS_VERSION, "world_id": corpus.world_id, "passages": len(passages)}
    )


def load_corpus_columns(path: Path, world_id: str) -> PassageStore:
    """The passages saved with :func:`save_corpus_columns`, as a lazy store; raises
    :class:`ColumnFileError` when the file is truncated, corrupted, or of another world."""
    reader = ColumnReader(path)
    meta = reader.expect(_KIND, CORPUS_COLUMNS_VERSION)
    if meta.get("world_id") != world_id:
        raise ColumnFileError(f"{path} holds the corpus of {meta.get('world_id')!r}, not of {world_id!r}")
    count = int(meta["passages"])

    def coded(name: str) -> tuple[list[str | None], list[int]]:
        table, codes = reader.codes(name, count)
        return [*table, None], codes.tolist()  # code -1 reads the last entry: None

    titles, entity_ids, sections, kinds = coded("title"), coded("entity_id"), coded("section"), coded("kind")
    if None in (kinds[0][code] for code in set(kinds[1])) or None in (titles[0][code] for code in set(titles[1])):
        raise ColumnFileError(f"{path} has a passage without a kind or a title")
    fact_table, fact_codes, fact_bounds = reader.list_codes("facts", count, indexed=True)
    mention_table, mention_codes, mention_bounds = reader.list_codes("mentions", count)
    columns = PassageColumns(
        doc_ids=reader.strings("doc_id", count),
        titles=titles[0],
        title_codes=titles[1],
        texts=reader.indexed_strings("text", count),
        entity_ids=entity_ids[0],
        entity_codes=entity_ids[1],
        sections=sections[0],
        section_codes=sections[1],
        kinds=kinds[0],
        kind_codes=kinds[1],
        fact_table=fact_table,
        fact_codes=fact_codes,
        fact_bounds=fact_bounds.tolist(),
        mention_table=mention_table,
        mention_codes=mention_codes,
        mention_bounds=mention_bounds.tolist(),
    )
    try:
        return PassageStore.from_columns(columns)
    except ValueError as error:
        raise ColumnFileError(f"{path}: {error}") from None


def pages_index(store: PassageStore) -> defaultdict[str, list[str]]:
    """entity id -> ids of its ``page`` passages, in corpus order (keys in order of first page)."""
    pages: defaultdict[str, list[str]] = defaultdict(list)
    columns = store.columns
    if columns is None:
        for passage in store:
            if passage.entity_id is not None and passage.kind == "page":
                pages[passage.entity_id].append(passage.doc_id)
        return pages
    page = columns.kinds.index("page") if "page" in columns.kinds else -2
    entity_ids, doc_ids = columns.entity_ids, columns.doc_ids
    for row, (entity, kind) in enumerate(zip(columns.entity_codes, columns.kind_codes)):
        if kind == page and entity >= 0:
            pages[entity_ids[entity]].append(doc_ids[row])  # type: ignore[index]
    return pages


def fact_index(store: PassageStore) -> defaultdict[str, list[str]]:
    """fact id -> ids of the passages stating it, in passage order, keyed in order of first
    statement. From columns: the table of a coded column lists values in order of first
    appearance, and a stable sort of the codes keeps each fact's passages in corpus order."""
    columns = store.columns
    if columns is None:
        index: defaultdict[str, list[str]] = defaultdict(list)
        for passage in store:
            for fact_id in passage.facts:
                index[fact_id].append(passage.doc_id)
        return index
    table = columns.fact_table.all() if hasattr(columns.fact_table, "all") else list(columns.fact_table)
    codes, doc_ids = columns.fact_codes, columns.doc_ids
    rows = np.repeat(np.arange(len(doc_ids), dtype=np.int64), np.diff(np.asarray(columns.fact_bounds)))
    stating = list(map(doc_ids.__getitem__, rows[np.argsort(codes, kind="stable")].tolist()))
    edges = np.zeros(len(table) + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=len(table)), out=edges[1:])
    return defaultdict(list, zip(table, (stating[low:high] for low, high in pairwise(edges.tolist()))))
