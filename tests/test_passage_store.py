"""The one passage store (issue 14 item 4) and lazy cache hits (issue 18 item 4).

A corpus and every engine built on it share one :class:`PassageStore` with one content hash,
recorded in the bundle manifest; a bundle read from the cache makes passages and entities only
when they are read, and what it makes equals, field for field, what the build made.
"""

from __future__ import annotations

import pickle

import pytest

from searchgym.cache import ArtifactCache
from searchgym.search.base import UnknownDocumentError
from searchgym.search.bm25 import BM25Engine
from searchgym.search.corpus_index import PassageStore as ReExported
from searchgym.search.passage_store import PassageStore, store_hash
from searchgym.types import Passage


@pytest.fixture(scope="module")
def built_and_loaded(tmp_path_factory):
    """The same bundle as built (eager objects) and as read back from the cache (lazy)."""
    from searchgym.bundle import _MEMO, build_bundle
    from searchgym.tasks import TaskOptions

    cache = ArtifactCache(tmp_path_factory.mktemp("store-cache"))
    _MEMO.clear()
    try:
        built = build_bundle("default", 150, 21, task_options=TaskOptions(per_type=4), cache=cache)
        _MEMO.clear()
        loaded = build_bundle("default", 150, 21, task_options=TaskOptions(per_type=4), cache=cache)
    finally:
        _MEMO.clear()
    assert loaded is not built
    return built, loaded, cache


def test_the_store_is_one_class_under_both_names():
    assert ReExported is PassageStore


def test_a_cache_hit_makes_no_passage_and_no_entity_until_one_is_read(built_and_loaded):
    _, loaded, _ = built_and_loaded
    store = loaded.corpus.passages
    assert store.columns is not None and store._made.count(None) == len(store)
    assert loaded.world.entities._made == {}
    assert callable(loaded.world._parts["edges"])  # the edge list is not made yet
    assert callable(loaded.world._parts["links"])  # nor the graph look-ups
    first = store[3]
    assert store[3] is first and store._made.count(None) == len(store) - 1  # made once, then kept
    entity_id = loaded.world.entities.ids[5]
    assert loaded.world.entities[entity_id] is loaded.world.entities[entity_id]


def test_lazy_passages_and_entities_equal_what_the_build_made(built_and_loaded):
    built, loaded, _ = built_and_loaded
    ids = [p.doc_id for p in built.corpus.passages]
    assert [loaded.corpus[doc_id] for doc_id in reversed(ids)] == [built.corpus[doc_id] for doc_id in reversed(ids)]
    assert list(loaded.corpus.passages) == list(built.corpus.passages)
    assert loaded.corpus.passages == built.corpus.passages == list(built.corpus.passages)
    assert loaded.corpus.passages[-1] == built.corpus.passages[-1]
    assert loaded.corpus.passages[2:9:3] == built.corpus.passages[2:9:3]
    assert loaded.corpus.to_jsonl() == built.corpus.to_jsonl()
    assert dict(loaded.corpus.pages) == dict(built.corpus.pages)
    assert list(loaded.corpus.fact_index.items()) == list(built.corpus.fact_index.items())
    some = list(built.world.entities)[::7]
    assert [loaded.world.entity(e) for e in some] == [built.world.entity(e) for e in some]
    assert [loaded.world.entity(e).attributes for e in some] == [built.world.entity(e).attributes for e in some]
    assert loaded.world.canonical_bytes() == built.world.canonical_bytes()
    for type_spec in built.world.schema.entity_types:
        assert loaded.world.of_type(type_spec.name) == built.world.of_type(type_spec.name)


def test_one_hash_recorded_at_build_time_keys_the_engines(built_and_loaded):
    built, loaded, cache = built_and_loaded
    meta = cache.manifest(cache.entry_dir("bundles", built.key))["meta"]
    assert "store_hash" not in meta and "corpus_hash" not in meta
    expected = store_hash(list(built.corpus.passages))
    assert meta["content_hash"] == built.corpus.content_hash == loaded.corpus.content_hash == expected
    assert loaded.corpus.store_hash == PassageStore(loaded.corpus.passages).corpus_hash == expected
    engine = BM25Engine(loaded.corpus.passages, cache=cache, show_progress=False)
    assert engine.store._made is loaded.corpus.store._made  # the engine shares the corpus's store
    assert engine.store.content_hash == expected
    again = BM25Engine(list(built.corpus.passages), cache=cache, show_progress=False)
    assert again.cache_key == engine.cache_key and again.loaded_from_cache  # one key for equal passages


def test_hits_from_columns_equal_hits_from_passages(built_and_loaded):
    from searchgym.bundle import PASSAGES_FILE
    from searchgym.corpus import Corpus

    built, _, cache = built_and_loaded
    lazy = Corpus.load_columns(cache.entry_dir("bundles", built.key) / PASSAGES_FILE, built.world_id).passages
    eager = PassageStore(list(built.corpus.passages))
    rows, scores = [0, 7, 3, len(built.corpus) - 1], [2.5, 1.0, 0.5, 0.25]
    assert list(lazy.index_texts()) == list(eager.index_texts()) == [
        PassageStore.index_text(p) for p in built.corpus.passages]
    assert lazy.doc_ids == [p.doc_id for p in built.corpus.passages]
    assert lazy._made.count(None) == len(lazy)  # index texts and ids made no passage
    assert lazy.hits(rows, scores) == eager.hits(rows, scores)
    assert lazy.hit(7, 1.0) == eager.hit(7, 1.0)
    assert lazy._made.count(None) == len(lazy) - len(rows)  # a hit's passage is made once and kept
    assert lazy.hits(rows, scores) == eager.hits(rows, scores)


def test_lookups_membership_and_errors(built_and_loaded):
    _, loaded, _ = built_and_loaded
    store = loaded.corpus.passages
    passage = store[4]
    assert passage.doc_id in store and passage in store and passage.doc_id in loaded.corpus
    assert Passage("nope", "t", "x") not in store and ["unhashable"] not in store
    assert store.access(passage.doc_id) is passage and store.get("nope") is None
    assert loaded.corpus.by_id[passage.doc_id] is passage and len(loaded.corpus.by_id) == len(store)
    with pytest.raises(UnknownDocumentError, match="unknown document id 'nope'"):
        loaded.corpus["nope"]
    with pytest.raises(IndexError):
        store[len(store)]


def test_a_lazy_bundle_pickles_and_stays_equal(built_and_loaded):
    built, loaded, _ = built_and_loaded
    corpus = pickle.loads(pickle.dumps(loaded.corpus))
    world = pickle.loads(pickle.dumps(loaded.world))
    assert corpus.to_jsonl() == built.corpus.to_jsonl() and corpus.content_hash == built.corpus.content_hash
    assert world.canonical_bytes() == built.world.canonical_bytes()


def test_kept_hit_fields_stay_out_of_pickles_and_old_pickles_still_hit(built_and_loaded):
    built, _, _ = built_and_loaded
    store = PassageStore(list(built.corpus.passages))
    expected = store.hits([0, 5], [1.5, 0.5])
    assert len(store._hit_fields) == 2
    copied = pickle.loads(pickle.dumps(store))
    assert copied._hit_fields == {} and copied.hits([0, 5], [1.5, 0.5]) == expected
    old = PassageStore.__new__(PassageStore)  # a store pickled before hit fields were kept
    old.__setstate__({key: value for key, value in store.__dict__.items() if key != "_hit_fields"})
    assert old.hits([0, 5], [1.5, 0.5]) == expected
