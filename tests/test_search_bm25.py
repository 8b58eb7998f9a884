"""BM25 engine, the shared PassageStore, and the engine factory — real bm25s, real cache."""

from __future__ import annotations

import json

import pytest

from searchgym.cache import ArtifactCache
from searchgym.search.base import SearchEngine, UnknownDocumentError
from searchgym.search.bm25 import CACHE_NAMESPACE, BM25Engine
from searchgym.search.corpus_index import MAX_QUERY_CHARS, PassageStore, clean_query
from searchgym.search.factory import available_engines, make_engine, register_engine
from searchgym.types import Passage

PEOPLE = [
    ("Aldric Venmoor", "Quellport", "painter", "the Ashen Guild"),
    ("Mirela Osk", "Tarnbridge", "sailor", "the Harbor Compact"),
    ("Bram Ulleth", "Dunmere", "miller", "the Grain Union"),
    ("Sefa Korrin", "Velloway", "astronomer", "the Lantern Society"),
    ("Odile Prask", "Hollowfen", "surgeon", "the Mercy Order"),
    ("Tamsin Quorl", "Brackwater", "cartographer", "the Atlas Circle"),
    ("Ivo Drennick", "Saltmarch", "glassblower", "the Kiln Brotherhood"),
    ("Yselde Marrow", "Fenwick Cross", "botanist", "the Verdant League"),
    ("Corvin Halloway", "Stonereach", "blacksmith", "the Anvil Hall"),
    ("Liesl Varga", "Emberfall", "poet", "the Quill Assembly"),
    ("Dorian Feyle", "Greymoor", "architect", "the Arch Council"),
    ("Nessa Thorncombe", "Wyrmhold", "falconer", "the Sky Wardens"),
]


def make_corpus() -> list[Passage]:
    """Two passages per person (biography + career) and one per town: 36 passages."""
    passages: list[Passage] = []
    for i, (name, town, job, org) in enumerate(PEOPLE):
        passages.append(
            Passage(
                doc_id=f"p{i:02d}-bio",
                title=name,
                text=f"{name} was born in {town}. As a child {name.split()[0]} learned the trade of a {job}.",
                entity_id=f"E{i}",
                section="bio",
            )
        )
        passages.append(
            Passage(
                doc_id=f"p{i:02d}-career",
                title=name,
                text=f"Later in life {name} joined {org} and became known across the region.",
                entity_id=f"E{i}",
                section="career",
            )
        )
        passages.append(
            Passage(
                doc_id=f"t{i:02d}",
                title=town,
                text=f"{town} is a town with a market, a river crossing and an old library.",
                entity_id=f"T{i}",
            )
        )
    return passages


@pytest.fixture(scope="module")
def corpus() -> list[Passage]:
    return make_corpus()


@pytest.fixture
def cache(tmp_path) -> ArtifactCache:
    return ArtifactCache(tmp_path / "cache")


@pytest.fixture
def engine(corpus, cache) -> BM25Engine:
    return BM25Engine(corpus, cache=cache, show_progress=False)


# -- PassageStore -------------------------------------------------------------------------------


def test_store_lookup_and_unknown_id(corpus):
    store = PassageStore(corpus)
    assert len(store) == len(corpus)
    assert store.access("p03-bio").title == "Sefa Korrin"
    assert store.row("t00") == 2
    with pytest.raises(UnknownDocumentError, match="unknown document id 'nope'"):
        store.access("nope")
    huge = "x" * 10_000
    with pytest.raises(UnknownDocumentError) as info:
        store.access(huge)
    assert len(str(info.value)) < 300  # the id is truncated in the message
    with pytest.raises(UnknownDocumentError):
        store.access(["not", "hashable"])  # type: ignore[arg-type]


def test_store_rejects_duplicates_and_empty(corpus):
    with pytest.raises(ValueError, match="duplicate doc_id 'p00-bio'"):
        PassageStore([corpus[0], corpus[0]])
    with pytest.raises(ValueError, match="empty"):
        PassageStore([])
    assert len(PassageStore([], allow_empty=True)) == 0


def test_corpus_hash_depends_on_every_field(corpus):
    base = PassageStore(corpus).corpus_hash
    assert base == PassageStore(list(corpus)).corpus_hash
    changed = list(corpus)
    changed[5] = Passage(**{**changed[5].to_dict(), "facts": ("E1|born_in|T1",)})
    assert PassageStore(changed).corpus_hash != base
    assert PassageStore(list(reversed(corpus))).corpus_hash != base


def test_clean_query_truncates_long_queries():
    assert clean_query("  hello  ") == "hello"
    long = "word " * 1000
    cleaned = clean_query(long)
    assert len(cleaned) <= MAX_QUERY_CHARS
    assert cleaned.endswith("word")  # cut at a word boundary


# -- BM25 search --------------------------------------------------------------------------------


def test_is_a_search_engine(engine):
    assert isinstance(engine, SearchEngine)
    assert engine.name == "bm25"


@pytest.mark.parametrize("i", range(len(PEOPLE)))
def test_name_query_ranks_own_page_first(engine, i):
    name, town, job, _ = PEOPLE[i]
    (hits,) = engine.search([name], k=5)
    assert hits[0].doc_id.startswith(f"p{i:02d}-")
    assert {h.doc_id for h in hits[:2]} == {f"p{i:02d}-bio", f"p{i:02d}-career"}
    (hits,) = engine.search([f"which {job} was born in {town}?"], k=3)
    assert hits[0].doc_id == f"p{i:02d}-bio"


def test_hits_are_sorted_and_carry_passage_text(engine, corpus):
    (hits,) = engine.search(["Quellport market library"], k=10)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    by_id = {p.doc_id: p for p in corpus}
    for hit in hits:
        assert hit.title == by_id[hit.doc_id].title and hit.text == by_id[hit.doc_id].text


def test_batch_equals_single_queries(engine):
    queries = ["Mirela Osk", "glassblower Saltmarch", "the", "", "Lantern Society astronomer", "Greymoor"]
    batched = engine.search(queries, k=4)
    assert len(batched) == len(queries)
    for query, hits in zip(queries, batched):
        assert engine.search([query], k=4)[0] == hits


def test_k_is_clipped_to_the_corpus(engine, corpus):
    (hits,) = engine.search(["market river library"], k=10_000)
    assert len(hits) == 12  # only the 12 town pages share a term; never more than the corpus
    (hits,) = engine.search(["born town region"], k=len(corpus) + 5)
    assert len(hits) == len(corpus)
    assert len({h.doc_id for h in hits}) == len(hits)


def test_empty_and_unmatched_queries_return_no_hits(engine):
    assert engine.search(["", "   ", "the of and", "zzzqqq xyzzy"], k=5) == [[], [], [], []]
    assert engine.search([], k=5) == []


def test_long_query_is_truncated_not_rejected(engine):
    query = "Nessa Thorncombe " + "falconer " * 2000
    (hits,) = engine.search([query], k=3)
    assert hits and hits[0].doc_id.startswith("p11-")


def test_bad_arguments(engine):
    with pytest.raises(TypeError, match="list of queries"):
        engine.search("Mirela Osk", k=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be at least 1"):
        engine.search(["Mirela Osk"], k=0)
    with pytest.raises(ValueError, match="option 'method' must be one of"):
        BM25Engine(make_corpus(), method="nope", cache=None)
    with pytest.raises(ValueError, match="unknown stemmer"):
        BM25Engine(make_corpus(), stemmer="klingon", cache=None)


def test_access(engine, corpus):
    assert engine.access("p07-career") == corpus[22]
    with pytest.raises(UnknownDocumentError, match="unknown document id"):
        engine.access("p99-bio")


def test_no_cache_and_no_stemmer(corpus):
    engine = BM25Engine(corpus, cache=None, stemmer=None, show_progress=False)
    assert engine.index_dir is None and not engine.loaded_from_cache
    (hits,) = engine.search(["Dorian Feyle"], k=2)
    assert hits[0].doc_id.startswith("p10-")


# -- cache --------------------------------------------------------------------------------------


def test_second_construction_loads_from_cache(corpus, cache):
    first = BM25Engine(corpus, cache=cache, show_progress=False)
    assert not first.loaded_from_cache
    manifest = cache.manifest(first.index_dir)
    assert manifest["meta"]["num_docs"] == len(corpus)
    assert any(name.startswith("index/") for name in manifest["files"])
    assert not any(name.endswith(".pkl") or name.endswith(".pickle") for name in manifest["files"])
    stamp = (first.index_dir / "manifest.json").stat().st_mtime_ns

    second = BM25Engine(corpus, cache=cache, show_progress=False)
    assert second.loaded_from_cache
    assert second.index_dir == first.index_dir
    assert (second.index_dir / "manifest.json").stat().st_mtime_ns == stamp
    queries = ["Yselde Marrow", "botanist", "Anvil Hall blacksmith"]
    assert second.search(queries, 5) == first.search(queries, 5)


def test_cache_key_depends_on_parameters_and_corpus(corpus, cache):
    base = BM25Engine(corpus, cache=cache, show_progress=False)
    other_k1 = BM25Engine(corpus, cache=cache, k1=1.2, show_progress=False)
    other_corpus = BM25Engine(corpus[:-1], cache=cache, show_progress=False)
    assert len({base.index_dir, other_k1.index_dir, other_corpus.index_dir}) == 3
    assert not other_k1.loaded_from_cache and not other_corpus.loaded_from_cache


def test_corrupted_cache_file_is_rebuilt(corpus, cache):
    first = BM25Engine(corpus, cache=cache, show_progress=False)
    expected = first.search(["Ivo Drennick glassblower"], 3)
    data_file = next(first.index_dir.glob("index/data.csc.index.npy"))
    data_file.write_bytes(b"garbage" + data_file.read_bytes()[7:])

    rebuilt = BM25Engine(corpus, cache=cache, show_progress=False)
    assert not rebuilt.loaded_from_cache  # checksum mismatch detected, entry rebuilt
    assert rebuilt.search(["Ivo Drennick glassblower"], 3) == expected
    assert BM25Engine(corpus, cache=cache, show_progress=False).loaded_from_cache


def test_unreadable_but_verified_entry_is_rebuilt(corpus, cache):
    """Files that pass the checksum but do not match the corpus (e.g. a stale doc list)."""
    first = BM25Engine(corpus, cache=cache, show_progress=False)
    entry = first.index_dir
    (entry / "doc_ids.json").write_text(json.dumps(["wrong"]), encoding="utf-8")
    manifest = cache.manifest(entry)
    from searchgym.cache import file_sha256, stable_json

    manifest["files"]["doc_ids.json"] = file_sha256(entry / "doc_ids.json")
    (entry / "manifest.json").write_text(stable_json(manifest), encoding="utf-8")

    again = BM25Engine(corpus, cache=cache, show_progress=False)
    assert not again.loaded_from_cache
    assert again.search(["Liesl Varga"], 1)[0][0].doc_id.startswith("p09-")


def test_default_cache_honours_env(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHGYM_CACHE_DIR", str(tmp_path / "envcache"))
    engine = BM25Engine(corpus, show_progress=False)
    assert engine.index_dir is not None
    assert (tmp_path / "envcache" / CACHE_NAMESPACE) in engine.index_dir.parents


# -- factory ------------------------------------------------------------------------------------


def test_factory_builds_bm25_and_rejects_unknown_names(corpus, cache):
    engine = make_engine("BM25", corpus, cache=cache, show_progress=False)
    assert isinstance(engine, BM25Engine)
    with pytest.raises(ValueError, match="unknown search engine 'nope'; valid names: .*bm25.*dense.*hybrid"):
        make_engine("nope", corpus)
    assert {"bm25", "dense", "hybrid"} <= set(available_engines())


def test_register_engine(corpus, cache):
    def factory(passages, **options):
        return BM25Engine(passages, cache=cache, show_progress=False, name="custom", **options)

    register_engine("custom-test-engine", factory)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_engine("custom-test-engine", factory)
        engine = make_engine("custom-test-engine", corpus, k1=1.0)
        assert engine.name == "custom" and engine.k1 == 1.0
    finally:
        from searchgym.search.factory import ENGINE_REGISTRY

        ENGINE_REGISTRY.pop("custom-test-engine", None)


def test_batched_sparse_ranking_matches_bm25s_own_retrieve(small_bundle):
    """Our one-product batch ranking must give bm25s's scores and order (ties by corpus order)."""
    from searchgym.search.bm25 import BM25Engine

    engine = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False)
    queries = [task.question for task in small_bundle.tasks.tasks[:60]]
    ours = engine.search(queries, 10)
    for query, hits in zip(queries, ours):
        scores = engine.scores(query)
        expected = sorted(((-float(s), row) for row, s in enumerate(scores) if s > 0))[:10]
        assert [h.doc_id for h in hits] == [small_bundle.corpus.passages[row].doc_id for _, row in expected]
        assert all(abs(h.score + s) < 1e-4 for h, (s, _) in zip(hits, expected))


def _search_in_child(engine, queries, results_queue):
    results_queue.put([[hit.doc_id for hit in hits] for hits in engine.search(queries, 5)])


def test_threaded_batches_equal_serial_ranking_and_survive_pickle_and_fork(small_bundle):
    """A batch split over threads ranks exactly like one thread; the pool is per process."""
    import multiprocessing
    import pickle

    from searchgym.search.bm25 import BM25Engine

    queries = [task.question for task in small_bundle.tasks.tasks[:50]]
    serial = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False, threads=1)
    threaded = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False, threads=3)
    threaded.min_postings_per_thread = 1  # a small corpus is otherwise never worth splitting
    threaded.yield_to_load = False  # split even when the machine running the tests is busy
    expected = serial.search(queries, 10)
    assert threaded.search(queries, 10) == expected
    assert threaded._pool is not None and serial._pool is None  # one thread never starts a pool
    assert threaded.search(queries[:1], 10) == expected[:1]

    copy = pickle.loads(pickle.dumps(threaded))
    assert copy._pool is None and copy.threads == 3
    assert copy.search(queries, 10) == expected and copy._pool is not None

    small_batches = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False, threads=3)
    assert small_batches.search(queries, 10) == expected
    assert small_batches._pool is None  # default threshold: too few postings to be worth threads

    # a forked child inherits the pool object without its threads: it must make its own
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_search_in_child, args=(threaded, queries, results))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0, "the forked child hung or failed"
    assert results.get(timeout=5) == [[hit.doc_id for hit in hits[:5]] for hits in expected]
    threaded.close()
    assert threaded._pool is None and threaded.search(queries[:4], 10) == expected[:4]


@pytest.mark.parametrize("threads", [0, -1, True, 1.5])
def test_bad_thread_counts_are_rejected(corpus, threads):
    with pytest.raises(ValueError, match="option 'threads' must be a positive integer"):
        BM25Engine(corpus, cache=None, show_progress=False, threads=threads)


def test_a_batch_is_split_only_over_cores_the_load_leaves_idle(small_bundle, monkeypatch):
    """Same hits either way; on a busy machine the batch stays on the calling thread."""
    from searchgym.search import bm25
    from searchgym.search.bm25 import BM25Engine, idle_threads

    monkeypatch.setattr(bm25, "default_threads", lambda: 4)
    for load, expected in [(0.0, 4), (1.0, 4), (2.0, 3), (3.6, 1), (40.0, 1)]:
        monkeypatch.setattr(bm25.os, "getloadavg", lambda load=load: (load, load, load))
        assert idle_threads() == expected
    queries = [task.question for task in small_bundle.tasks.tasks[:30]]
    engine = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False, threads=4)
    engine.min_postings_per_thread = 1
    expected_hits = BM25Engine(small_bundle.corpus.passages, cache=None, show_progress=False, threads=1).search(
        queries, 5
    )
    assert engine.search(queries, 5) == expected_hits and engine._pool is None  # load 40: one thread
    monkeypatch.setattr(bm25.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert engine.search(queries, 5) == expected_hits and engine._pool is not None
