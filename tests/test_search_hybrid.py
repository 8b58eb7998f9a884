"""Reciprocal rank fusion: exact order on constructed rankings, then real BM25 / dense engines."""

from __future__ import annotations

import pytest

from searchgym.cache import ArtifactCache
from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.bm25 import BM25Engine
from searchgym.search.corpus_index import PassageStore
from searchgym.search.factory import make_engine
from searchgym.search.hybrid import HybridEngine
from searchgym.types import Hit, Passage


class FixedRankEngine:
    """A complete in-memory SearchEngine whose ranking per query is given up front, so the
    fused order can be computed by hand. Records every call to check batching."""

    def __init__(self, name: str, rankings: dict[str, list[str]], doc_ids: list[str]) -> None:
        self.name = name
        self.rankings = rankings
        self.store = PassageStore([Passage(d, f"title {d}", f"text of {d}") for d in doc_ids])
        self.calls: list[tuple[list[str], int]] = []

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        self.calls.append((list(queries), k))
        return [
            [
                self.store.hit(self.store.row(d), 1.0 / (r + 1))
                for r, d in enumerate(self.rankings.get(q, [])[:k])
            ]
            for q in queries
        ]

    def access(self, doc_id: str) -> Passage:
        return self.store.access(doc_id)


def ids(hits: list[Hit]) -> list[str]:
    return [h.doc_id for h in hits]


@pytest.fixture
def pair() -> tuple[FixedRankEngine, FixedRankEngine]:
    a = FixedRankEngine(
        "a",
        {"q": ["a", "b", "c"], "tie": ["zeta", "alpha"], "w": ["a", "b"]},
        ["a", "b", "c", "zeta", "alpha"],
    )
    b = FixedRankEngine(
        "b",
        {"q": ["c", "b", "d"], "tie": ["alpha", "zeta"], "w": ["b", "a"]},
        ["a", "b", "c", "d", "zeta", "alpha"],
    )
    return a, b


def test_rrf_order_and_scores(pair):
    hybrid = HybridEngine(list(pair), rrf_k=60)
    assert isinstance(hybrid, SearchEngine) and hybrid.name == "hybrid(a+b)"
    (hits,) = hybrid.search(["q"], 10)
    # c: 1/61 + 1/63 = 0.032266 > b: 2/62 = 0.032258 > a: 1/61 > d: 1/63
    assert ids(hits) == ["c", "b", "a", "d"]
    assert hits[0].score == pytest.approx(1 / 61 + 1 / 63)
    assert hits[1].score == pytest.approx(2 / 62)
    assert hits[3].title == "title d"  # shown text from the engine that returned it
    assert ids(hybrid.search(["q"], 2)[0]) == ["c", "b"]


def test_ties_break_by_doc_id(pair):
    (hits,) = HybridEngine(list(pair)).search(["tie"], 5)
    assert hits[0].score == hits[1].score
    assert ids(hits) == ["alpha", "zeta"]
    (hits,) = HybridEngine(list(reversed(pair))).search(["tie"], 5)
    assert ids(hits) == ["alpha", "zeta"]


def test_weights(pair):
    assert ids(HybridEngine(list(pair), weights=[2, 1]).search(["w"], 2)[0]) == ["a", "b"]
    assert ids(HybridEngine(list(pair), weights=[1, 2]).search(["w"], 2)[0]) == ["b", "a"]
    assert ids(HybridEngine(list(pair), weights=[0, 1]).search(["q"], 5)[0]) == ["c", "b", "d"]
    with pytest.raises(ValueError, match="2 weights for 1 engines"):
        HybridEngine([pair[0]], weights=[1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        HybridEngine(list(pair), weights=[-1, 1])
    with pytest.raises(ValueError, match="one positive"):
        HybridEngine(list(pair), weights=[0, 0])
    with pytest.raises(ValueError, match="at least one engine"):
        HybridEngine([])
    with pytest.raises(ValueError, match="option 'depth' must be a positive integer"):
        HybridEngine(list(pair), depth=0)


def test_each_engine_called_once_per_batch_at_depth(pair):
    hybrid = HybridEngine(list(pair), depth=7)
    results = hybrid.search(["q", "", "unknown query", "tie"], 3)
    assert [len(r) for r in results] == [3, 0, 0, 2]
    for engine in pair:
        assert engine.calls == [(["q", "", "unknown query", "tie"], 7)]
    hybrid.search(["q"], 20)
    assert pair[0].calls[-1][1] == 20  # depth never below k


def test_access_delegates_to_the_engine_that_knows_the_id(pair):
    hybrid = HybridEngine(list(pair))
    assert hybrid.access("a").title == "title a"
    assert hybrid.access("d").title == "title d"  # only the second engine has it
    with pytest.raises(UnknownDocumentError, match="none of the 2 fused engines"):
        hybrid.access("nope")


# -- real engines -------------------------------------------------------------------------------

NAMES = ["Aldric Venmoor", "Mirela Osk", "Bram Ulleth", "Sefa Korrin", "Odile Prask", "Tamsin Quorl"]
JOBS = ["painter", "sailor", "miller", "astronomer", "surgeon", "cartographer"]


def make_corpus() -> list[Passage]:
    passages = [
        Passage(f"p{i}", name, f"{name} worked as a {job} for many years.")
        for i, (name, job) in enumerate(zip(NAMES, JOBS))
    ]
    passages += [Passage(f"n{i}", f"Note {i}", f"A short note number {i} about the weather.") for i in range(20)]
    return passages


def test_hybrid_of_real_bm25_engines_is_consistent(tmp_path):
    corpus = make_corpus()
    cache = ArtifactCache(tmp_path)
    stemmed = BM25Engine(corpus, cache=cache, show_progress=False)
    plain = BM25Engine(corpus, cache=cache, stemmer=None, k1=1.2, show_progress=False, name="bm25-plain")
    hybrid = HybridEngine([stemmed, plain], depth=10)
    queries = [*NAMES, "", "weather note"]
    batched = hybrid.search(queries, 3)
    for i, name in enumerate(NAMES):
        assert batched[i][0].doc_id == f"p{i}"
    assert batched[len(NAMES)] == []
    assert batched == [hybrid.search([q], 3)[0] for q in queries]


@pytest.mark.slow
def test_factory_hybrid_bm25_plus_dense(tmp_path):
    corpus = make_corpus()
    hybrid = make_engine(
        "hybrid", corpus, cache=ArtifactCache(tmp_path), show_progress=False, dense={"device": "cpu"}, rrf_k=10
    )
    assert isinstance(hybrid, HybridEngine) and hybrid.name == "hybrid(bm25+dense)"
    assert hybrid.rrf_k == 10
    results = hybrid.search(["Odile Prask", "who was the doctor", "sailor"], 2)
    assert results[0][0].doc_id == "p4"
    assert results[1][0].doc_id == "p4"  # lexical miss, dense hit: fusion keeps it on top
    assert results[2][0].doc_id == "p1"
