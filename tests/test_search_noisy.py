"""NoisyEngine over a real BM25 engine: extremes, determinism, curriculum monotonicity, modes."""

from __future__ import annotations

import pytest

from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.bm25 import BM25Engine
from searchgym.search.noisy import NoisyEngine
from searchgym.types import Passage

NAMES = [
    "Aldric Venmoor", "Mirela Osk", "Bram Ulleth", "Sefa Korrin", "Odile Prask", "Tamsin Quorl",
    "Ivo Drennick", "Yselde Marrow", "Corvin Halloway", "Liesl Varga", "Dorian Feyle", "Nessa Thorncombe",
]
TOWNS = ["Quellport", "Tarnbridge", "Dunmere", "Velloway", "Hollowfen", "Brackwater"]


def make_corpus() -> list[Passage]:
    return [
        Passage(f"p{i:02d}", name, f"{name} was born in {TOWNS[i % len(TOWNS)]} and keeps a small garden.")
        for i, name in enumerate(NAMES)
    ]


def make_distractors() -> list[Passage]:
    return [
        Passage(f"x{i:02d}", f"Unrelated {i}", f"Distractor {i}: wool prices rose.", kind="distractor")
        for i in range(15)
    ]


QUERIES = [f"{name} birthplace" for name in NAMES] + [f"garden in {town}" for town in TOWNS]


@pytest.fixture(scope="module")
def bm25() -> BM25Engine:
    return BM25Engine(make_corpus(), cache=None, show_progress=False)


def test_noise_prob_zero_is_the_wrapped_engine(bm25):
    noisy = NoisyEngine(bm25, make_distractors(), noise_prob=0.0, seed=1)
    assert isinstance(noisy, SearchEngine) and noisy.name == "noisy(bm25)"
    assert noisy.search(QUERIES, 4) == bm25.search(QUERIES, 4)
    assert noisy.last_noisy == [False] * len(QUERIES)


def test_noise_prob_one_replaces_every_result_with_distractors(bm25):
    noisy = NoisyEngine(bm25, make_distractors(), noise_prob=1.0, seed=1)
    clean = bm25.search(QUERIES + [""], 4)
    results = noisy.search(QUERIES + [""], 4)
    assert noisy.last_noisy == [True] * len(QUERIES) + [False]
    assert results[-1] == []  # an empty query is never noised
    for hits, real in zip(results[:-1], clean):
        assert len(hits) == len(real)
        assert all(noisy.access(h.doc_id).kind == "distractor" for h in hits)
        assert len({h.doc_id for h in hits}) == len(hits)
        assert [h.score for h in hits] == [h.score for h in real]  # scores do not give noise away


def test_same_query_same_documents_regardless_of_batch(bm25):
    first = NoisyEngine(bm25, make_distractors(), noise_prob=0.5, seed=7)
    second = NoisyEngine(bm25, make_distractors(), noise_prob=0.5, seed=7)
    forward = first.search(QUERIES, 3)
    flags = list(first.last_noisy)
    backward = second.search(list(reversed(QUERIES)), 3)
    assert list(reversed(backward)) == forward
    assert list(reversed(second.last_noisy)) == flags
    singles = [first.search([q], 3)[0] for q in QUERIES]
    assert singles == forward
    assert 0 < sum(flags) < len(QUERIES)


def test_seed_changes_which_queries_are_noisy(bm25):
    patterns = set()
    for seed in range(4):
        engine = NoisyEngine(bm25, make_distractors(), noise_prob=0.5, seed=seed)
        engine.search(QUERIES, 3)
        patterns.add(tuple(engine.last_noisy))
    assert len(patterns) > 1


def test_raising_noise_prob_only_adds_noisy_queries(bm25):
    engine = NoisyEngine(bm25, make_distractors(), noise_prob=0.2, seed=3)
    previous: set[int] = set()
    for prob in (0.2, 0.4, 0.6, 0.8, 1.0):
        engine.noise_prob = prob  # what a curriculum does between epochs
        engine.search(QUERIES, 3)
        current = {i for i, flag in enumerate(engine.last_noisy) if flag}
        assert previous <= current
        previous = current
    assert len(previous) == len(QUERIES)


def test_noise_rate_follows_noise_prob(bm25):
    engine = NoisyEngine(bm25, make_distractors(), noise_prob=0.3, seed=11)
    queries = [f"{name} query {i}" for i in range(25) for name in NAMES[:8]]  # 200 distinct queries
    engine.search(queries, 2)
    rate = sum(engine.last_noisy) / len(queries)
    assert 0.2 < rate < 0.4


def test_noise_prob_is_validated(bm25):
    engine = NoisyEngine(bm25, make_distractors(), noise_prob=0.1)
    with pytest.raises(ValueError, match=r"option 'noise_prob' must be a number >= 0.0 and <= 1.0"):
        engine.noise_prob = 1.5
    with pytest.raises(ValueError, match="noise_prob"):
        NoisyEngine(bm25, make_distractors(), noise_prob=-0.1)
    with pytest.raises(ValueError, match="unknown noise mode"):
        NoisyEngine(bm25, make_distractors(), mode="shuffle")


def test_mix_mode_keeps_real_hits_in_order(bm25):
    engine = NoisyEngine(bm25, make_distractors(), noise_prob=1.0, seed=5, mode="mix", mix_fraction=0.5)
    real = bm25.search(QUERIES, 4)
    mixed = engine.search(QUERIES, 4)
    for hits, clean in zip(mixed, real):
        noise = [h for h in hits if h.doc_id.startswith("x")]
        kept = [h for h in hits if not h.doc_id.startswith("x")]
        assert len(hits) == len(clean)
        assert len(noise) == max(1, round(len(clean) * 0.5))
        assert kept == clean[: len(kept)]


def test_random_corpus_noise_excludes_the_real_hits(bm25):
    engine = NoisyEngine(bm25, None, noise_prob=1.0, seed=2)
    assert engine.pool_kind == "corpus"
    for query, hits, clean in zip(QUERIES, engine.search(QUERIES, 3), bm25.search(QUERIES, 3)):
        assert hits, query
        assert not {h.doc_id for h in hits} & {h.doc_id for h in clean}
        assert all(h.doc_id.startswith("p") for h in hits)


def test_unmatched_query_gets_noise_when_selected(bm25):
    engine = NoisyEngine(bm25, make_distractors(), noise_prob=1.0, seed=0)
    (hits,) = engine.search(["zzzz qqqq"], 5)
    assert len(hits) == 5 and engine.last_noisy == [True]
    assert all(h.score == 0.0 for h in hits)


def test_access_covers_corpus_and_distractors(bm25):
    engine = NoisyEngine(bm25, make_distractors(), noise_prob=1.0)
    assert engine.access("p03").title == "Sefa Korrin"
    assert engine.access("x04").kind == "distractor"
    with pytest.raises(UnknownDocumentError, match="neither the corpus nor the distractor pool"):
        engine.access("nothing")


def test_needs_a_noise_pool():
    class NoCorpus:
        name = "bare"

        def search(self, queries, k):
            return [[] for _ in queries]

        def access(self, doc_id):
            raise UnknownDocumentError(doc_id)

    with pytest.raises(ValueError, match="needs a noise pool"):
        NoisyEngine(NoCorpus(), None, noise_prob=0.5)
    engine = NoisyEngine(NoCorpus(), None, noise_prob=1.0, corpus=make_corpus())
    assert len(engine.search(["anything"], 3)[0]) == 3
