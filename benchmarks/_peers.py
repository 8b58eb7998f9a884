"""Lexical retrieval peers behind one small interface, for ``bench_retrieval.py``.

Each peer is built from the same passages (``title + text``), runs the same queries and is
timed on its own fastest native call: ``run(queries, k)`` is what is timed, ``rows(result)``
(untimed) turns its answer into corpus rows for recall. Every peer is configured as its users
would run it at its best on this machine:

* ``searchgym``: ``BM25Engine.search`` (full :class:`~searchgym.types.Hit` objects with text);
* ``bm25s``: ``bm25s.tokenize`` + ``BM25.retrieve``, numpy backend (bm25s's default), and
  ``bm25s-numba``, its numba backend;
* ``tantivy``: an in-RAM index, ``en_stem`` analyzer, ``parse_query_lenient`` + ``search``
  (document addresses only: reading the stored row is left out of the timing);
* ``pisa``: pyterrier-pisa's native ``_pisathon.retrieve`` (block-max WAND, porter2, Terrier
  stopwords), called directly so that no pandas frame is timed (docnos and scores only);
* ``pisa-engine``: the same call plus what a ``SearchEngine`` backed by PISA would add to answer
  like searchgym's: the same :class:`~searchgym.types.Hit` lists, made by searchgym's own
  ``PassageStore.hits`` from PISA's rows and scores (PISA as the backend the issue allows);
* ``rank_bm25``: ``BM25Okapi.get_scores`` + ``argpartition`` over bm25s's tokens.

All use k1 = 1.5, b = 0.75 (searchgym's defaults), except where a peer's BM25 has no such knob.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

K1, B = 1.5, 0.75


def index_texts(passages: Sequence[Any]) -> list[str]:
    from searchgym.search.corpus_index import PassageStore

    return [PassageStore.index_text(passage) for passage in passages]


class SearchgymPeer:
    name, batched = "searchgym", True

    def __init__(self, passages: Sequence[Any]) -> None:
        from searchgym.search.bm25 import BM25Engine

        self.engine = BM25Engine(passages, k1=K1, b=B, show_progress=False)
        # the threads PISA gets: by default the engine splits a batch only over the cores the
        # 1-minute load leaves idle, and in this benchmark that load is the peers' own threads
        self.engine.yield_to_load = False
        self._row = self.engine.store.row

    def run(self, queries: list[str], k: int) -> Any:
        return self.engine.search(queries, k)

    def rows(self, result: Any) -> list[list[int]]:
        return [[self._row(hit.doc_id) for hit in hits] for hits in result]


class SearchgymEnginePeer(SearchgymPeer):
    """Any other searchgym engine by factory name (dense, hybrid): timed, no recall."""

    def __init__(self, passages: Sequence[Any], name: str) -> None:
        from searchgym.search.factory import make_engine

        self.name = name
        self.engine = make_engine(name, list(passages), show_progress=False)
        self._row = self.engine.store.row if hasattr(self.engine, "store") else None


class Bm25sPeer:
    batched = True

    def __init__(self, passages: Sequence[Any], backend: str = "numpy") -> None:
        import bm25s
        import Stemmer

        self.name = "bm25s" if backend == "numpy" else f"bm25s-{backend}"
        self._bm25s, self._stemmer, self._backend = bm25s, Stemmer.Stemmer("english"), backend
        tokens = bm25s.tokenize(index_texts(passages), stopwords="en", stemmer=self._stemmer, show_progress=False)
        self.retriever = bm25s.BM25(k1=K1, b=B, method="lucene", backend=backend)
        self.retriever.index(tokens, show_progress=False)

    def run(self, queries: list[str], k: int) -> Any:
        tokens = self._bm25s.tokenize(queries, stopwords="en", stemmer=self._stemmer, return_ids=False,
                                      show_progress=False)
        return self.retriever.retrieve(tokens, k=k, show_progress=False, backend_selection=self._backend)

    def rows(self, result: Any) -> list[list[int]]:
        documents, scores = result
        return [[int(d) for d, s in zip(row, row_scores) if s > 0] for row, row_scores in zip(documents, scores)]


class TantivyPeer:
    name, batched = "tantivy", False

    def __init__(self, passages: Sequence[Any], threads: int = 1) -> None:
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
        builder.add_integer_field("row", stored=True, fast=True)
        self.index = tantivy.Index(builder.build())
        writer = self.index.writer(heap_size=200_000_000, num_threads=threads)
        for row, text in enumerate(index_texts(passages)):
            writer.add_document(tantivy.Document(body=text, row=row))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def run(self, queries: list[str], k: int) -> Any:
        parse, search = self.index.parse_query_lenient, self.searcher.search
        return [search(parse(query, ["body"])[0], k).hits for query in queries]

    def rows(self, result: Any) -> list[list[int]]:
        doc = self.searcher.doc
        return [[doc(address)["row"][0] for _, address in hits] for hits in result]


class PisaPeer:
    name, batched = "pisa", True

    def __init__(self, passages: Sequence[Any], threads: int = 1) -> None:
        import pyterrier_pisa
        from pyterrier_pisa import _pisathon

        self._retrieve, self.threads = _pisathon.retrieve, threads
        self._dir = tempfile.TemporaryDirectory(prefix="bench-pisa-")
        index = pyterrier_pisa.PisaIndex(str(Path(self._dir.name) / "index"), text_field="text", threads=1)
        index.index({"docno": str(row), "text": text} for row, text in enumerate(index_texts(passages)))
        self._transformer = index.bm25(k1=K1, b=B, num_results=1000, threads=1)
        self._context, self._algorithm = self._transformer._ctxt, self._transformer.query_algorithm.value

    def _arrays(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PISA's native answer: each result's query index, docno and score."""
        shape = (len(queries) * k,)
        qidx, docnos = np.empty(shape, dtype=np.int32), np.empty(shape, dtype=object)
        ranks, scores = np.empty(shape, dtype=np.int32), np.empty(shape, dtype=np.float32)
        size = self._retrieve(self._context, self._algorithm, list(enumerate(queries)), k=k,
                              threads=self.threads if len(queries) > 1 else 1, query_weighted=0,
                              pretokenised=False, result_qidxs=qidx, result_docnos=docnos,
                              result_ranks=ranks, result_scores=scores)
        return qidx[:size], docnos[:size], scores[:size]

    def run(self, queries: list[str], k: int) -> Any:
        qidx, docnos, _ = self._arrays(queries, k)
        return len(queries), qidx, docnos

    def rows(self, result: Any) -> list[list[int]]:
        count, qidx, docnos = result
        rows: list[list[int]] = [[] for _ in range(count)]
        for query, docno in zip(qidx.tolist(), docnos.tolist()):
            rows[query].append(int(docno))
        return rows


class PisaEnginePeer(PisaPeer):
    """PISA behind searchgym's ``SearchEngine`` interface: its rows and scores, returned as the
    :class:`~searchgym.types.Hit` lists ``BM25Engine.search`` returns (same store, same hits)."""

    name = "pisa-engine"

    def __init__(self, passages: Sequence[Any], threads: int = 1) -> None:
        from searchgym.search.corpus_index import PassageStore

        super().__init__(passages, threads)
        self.store = PassageStore(passages)

    def run(self, queries: list[str], k: int) -> Any:
        qidx, docnos, scores = self._arrays(queries, k)
        rows: list[list[int]] = [[] for _ in queries]
        found: list[list[float]] = [[] for _ in queries]
        for query, docno, score in zip(qidx.tolist(), docnos.tolist(), scores.tolist()):
            rows[query].append(int(docno))
            found[query].append(score)
        return [self.store.hits(query_rows, query_scores) for query_rows, query_scores in zip(rows, found)]

    def rows(self, result: Any) -> list[list[int]]:
        return [[self.store.row(hit.doc_id) for hit in hits] for hits in result]


class RankBM25Peer:
    name, batched = "rank_bm25", False

    def __init__(self, passages: Sequence[Any]) -> None:
        import Stemmer
        from rank_bm25 import BM25Okapi

        from searchgym.search.lexical import words

        self._stem, self._words = Stemmer.Stemmer("english").stemWords, words
        self._bm25 = BM25Okapi([self._tokens(text) for text in index_texts(passages)], k1=K1, b=B)

    def _tokens(self, text: str) -> list[str]:
        return self._stem(self._words(text))

    def run(self, queries: list[str], k: int) -> Any:
        results = []
        for query in queries:  # no batch API
            scores = self._bm25.get_scores(self._tokens(query))
            top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
            top = top[np.lexsort((top, -scores[top]))]
            results.append([int(row) for row in top if scores[row] > 0])
        return results

    def rows(self, result: Any) -> list[list[int]]:
        return result


def make_peer(name: str, passages: Sequence[Any], threads: int) -> Any:
    if name == "searchgym":
        return SearchgymPeer(passages)
    if name in ("dense", "hybrid"):
        return SearchgymEnginePeer(passages, name)
    if name == "bm25s":
        return Bm25sPeer(passages)
    if name == "bm25s-numba":
        return Bm25sPeer(passages, backend="numba")
    if name == "tantivy":
        return TantivyPeer(passages, threads)
    if name == "pisa":
        return PisaPeer(passages, threads)
    if name == "pisa-engine":
        return PisaEnginePeer(passages, threads)
    if name == "rank_bm25":
        return RankBM25Peer(passages)
    raise ValueError(f"unknown peer {name!r}")


def reference_rankings(passages: Sequence[Any], queries: list[str], k: int,
                       peer: "Bm25sPeer | None" = None) -> list[list[int]]:
    """The exact BM25 ranking of bm25s's own index and ``get_scores``: the recall reference
    (``peer``: an already built numpy-backend bm25s peer to reuse).

    Ties are put in corpus order (bm25s's ``retrieve`` leaves them in any order).
    """
    peer = peer if peer is not None else Bm25sPeer(passages)
    bm25s = peer._bm25s
    rankings = []
    for query in queries:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=peer._stemmer, return_ids=False,
                                show_progress=False)[0]
        ids = peer.retriever.get_tokens_ids(tokens)
        if not ids:
            rankings.append([])
            continue
        scores = peer.retriever.get_scores(ids)
        rows = np.flatnonzero(scores > 0)
        rankings.append(rows[np.lexsort((rows, -scores[rows]))][:k].tolist())
    return rankings
