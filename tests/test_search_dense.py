"""Dense engine: real faiss indexes, and the real bundled all-MiniLM-L6-v2 (tests marked slow:
the first one pays ~10 s of torch import + model load, the rest reuse the loaded model)."""

from __future__ import annotations

import numpy as np
import pytest

from searchgym.cache import ArtifactCache
from searchgym.search.base import SearchEngine, SearchError, UnknownDocumentError
from searchgym.search.dense import DenseEngine, default_model_path, model_identity, resolve_model_path
from searchgym.search.faiss_index import IVF_MIN_PASSAGES, build_faiss_index, effective_index_kind
from searchgym.types import Passage

PEOPLE = [
    ("Aldric Venmoor", "Quellport", "painter", "paints portraits and landscapes in oil"),
    ("Mirela Osk", "Tarnbridge", "sailor", "commands a merchant ship across the stormy sea"),
    ("Bram Ulleth", "Dunmere", "miller", "grinds wheat into flour at the water mill"),
    ("Sefa Korrin", "Velloway", "astronomer", "studies the stars and planets through a telescope"),
    ("Odile Prask", "Hollowfen", "surgeon", "operates on wounded patients in the hospital"),
    ("Tamsin Quorl", "Brackwater", "cartographer", "draws maps of coastlines and mountain passes"),
    ("Ivo Drennick", "Saltmarch", "glassblower", "shapes molten glass into bottles and windows"),
    ("Yselde Marrow", "Fenwick Cross", "botanist", "collects rare flowers and studies plant growth"),
    ("Corvin Halloway", "Stonereach", "blacksmith", "forges iron horseshoes and swords at the anvil"),
    ("Liesl Varga", "Emberfall", "poet", "writes verses and sonnets about love and loss"),
    ("Dorian Feyle", "Greymoor", "architect", "designs bridges, towers and cathedrals"),
    ("Nessa Thorncombe", "Wyrmhold", "falconer", "trains hawks and falcons to hunt"),
]


def make_corpus() -> list[Passage]:
    passages = []
    for i, (name, town, job, work) in enumerate(PEOPLE):
        text = f"{name} is a {job} from {town} who {work}."
        passages.append(Passage(f"p{i:02d}", name, text, entity_id=f"E{i}"))
        text = f"{town} is a quiet town known for its weekly market."
        passages.append(Passage(f"t{i:02d}", town, text, entity_id=f"T{i}"))
    return passages


@pytest.fixture(scope="module")
def corpus() -> list[Passage]:
    return make_corpus()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> ArtifactCache:
    return ArtifactCache(tmp_path_factory.mktemp("dense-cache"))


@pytest.fixture(scope="module")
def flat(corpus, cache) -> DenseEngine:
    return DenseEngine(corpus, cache=cache, show_progress=False, device="cpu", batch_size=8)


# -- no model needed ----------------------------------------------------------------------------


def test_hub_name_is_refused_with_a_clear_error(corpus):
    with pytest.raises(SearchError, match="not a local directory.*never downloads"):
        DenseEngine(corpus, model="sentence-transformers/all-MiniLM-L6-v2", cache=None)
    with pytest.raises(SearchError, match="not a local directory"):
        DenseEngine(corpus, model="", cache=None)  # Path("") would be the current directory


def test_default_model_is_the_bundled_minilm():
    path = resolve_model_path(None)
    assert path == default_model_path().resolve()
    assert (path / "config.json").is_file() and (path / "modules.json").is_file()


def test_model_identity_tracks_file_names_and_sizes(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 10)
    (tmp_path / ".gitattributes").write_text("x")
    first = model_identity(tmp_path)
    (tmp_path / ".gitattributes").write_text("changed, but hidden files are ignored")
    assert model_identity(tmp_path) == first
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 11)
    assert model_identity(tmp_path) != first
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SearchError, match="no files"):
        model_identity(empty)


def test_ivf_falls_back_to_flat_on_small_corpora():
    assert effective_index_kind("ivf", IVF_MIN_PASSAGES - 1) == "flat"
    assert effective_index_kind("ivf", IVF_MIN_PASSAGES) == "ivf"
    assert effective_index_kind("hnsw", 3) == "hnsw"
    with pytest.raises(ValueError, match="unknown faiss index 'lsh'"):
        effective_index_kind("lsh", 10)


def _random_unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_ivf_index_matches_exact_search_when_probing_all_lists():
    vectors = _random_unit_vectors(2000, 32, seed=1)
    queries = _random_unit_vectors(20, 32, seed=2)
    exact = build_faiss_index(vectors, "flat")
    ivf = build_faiss_index(vectors, "ivf")
    assert ivf.nlist == 45  # round(sqrt(2000)), under the 2000 // 39 cap
    ivf.nprobe = ivf.nlist
    np.testing.assert_array_equal(ivf.search(queries, 5)[1], exact.search(queries, 5)[1])
    again = build_faiss_index(vectors, "ivf")  # fixed k-means seed: same clustering
    np.testing.assert_array_equal(faiss_lists(again), faiss_lists(ivf))


def faiss_lists(index) -> list[int]:
    return [index.invlists.list_size(i) for i in range(index.nlist)]


def test_hnsw_index_finds_exact_neighbours():
    vectors = _random_unit_vectors(500, 16, seed=3)
    queries = vectors[:25]  # each query's nearest neighbour is itself
    hnsw = build_faiss_index(vectors, "hnsw", hnsw_m=32)
    hnsw.hnsw.efSearch = 64
    assert hnsw.search(queries, 1)[1][:, 0].tolist() == list(range(25))


# -- real model ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_flat_engine_ranks_named_and_paraphrased_passages_first(flat):
    assert isinstance(flat, SearchEngine) and flat.name == "dense"
    assert flat.index_kind == "flat" and flat.device == "cpu"
    assert flat.embeddings.shape == (24, 384)
    np.testing.assert_allclose(np.linalg.norm(flat.embeddings, axis=1), 1.0, atol=1e-5)
    for i, (name, _, _, _) in enumerate(PEOPLE):
        assert flat.search([name], 3)[0][0].doc_id == f"p{i:02d}", name
    paraphrases = {
        "who is the doctor that operates on patients": "p04",
        "person who makes maps": "p05",
        "who looks at the stars": "p03",
        "metal worker who makes swords": "p08",
    }
    results = flat.search(list(paraphrases), 1)
    assert [hits[0].doc_id for hits in results] == list(paraphrases.values())


@pytest.mark.slow
def test_batch_equals_single_queries(flat):
    queries = ["Mirela Osk", "", "a glassblower", "Greymoor market town", "   ", "falcons"]
    batched = flat.search(queries, 4)
    for query, hits in zip(queries, batched):
        (single,) = flat.search([query], 4)
        assert [h.doc_id for h in single] == [h.doc_id for h in hits]
        np.testing.assert_allclose([h.score for h in single], [h.score for h in hits], atol=1e-5)


@pytest.mark.slow
def test_k_clipping_empty_queries_and_access(flat, corpus):
    (hits,) = flat.search(["town"], 1000)
    assert len(hits) == len(corpus) and len({h.doc_id for h in hits}) == len(corpus)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert flat.search(["", "  "], 5) == [[], []]
    assert flat.access("t03").title == "Velloway"
    with pytest.raises(UnknownDocumentError, match="unknown document id"):
        flat.access("missing")


@pytest.mark.slow
def test_embeddings_are_cached_and_corruption_is_rebuilt(flat, corpus, cache):
    assert flat.embeddings_dir is not None
    manifest = cache.manifest(flat.embeddings_dir)
    assert list(manifest["files"]) == ["embeddings.npy"]

    again = DenseEngine(
        corpus, model=str(default_model_path()), cache=cache, show_progress=False, device="cpu", batch_size=8
    )
    assert again.embeddings_from_cache and again.embeddings_dir == flat.embeddings_dir
    np.testing.assert_array_equal(again.embeddings, flat.embeddings)

    target = flat.embeddings_dir / "embeddings.npy"
    raw = bytearray(target.read_bytes())
    raw[-8:] = b"\x7f" * 8
    target.write_bytes(bytes(raw))
    rebuilt = DenseEngine(corpus, cache=cache, show_progress=False, device="cpu", batch_size=8)
    assert not rebuilt.embeddings_from_cache and rebuilt.embeddings_dir == flat.embeddings_dir
    np.testing.assert_allclose(rebuilt.embeddings, flat.embeddings, atol=1e-5)

    unnormalised = DenseEngine(corpus, cache=cache, show_progress=False, device="cpu", normalize=False)
    assert unnormalised.embeddings_dir != flat.embeddings_dir


def test_torch_embeddings_are_cached_per_batch_size_torch_version_and_device(flat, corpus, cache, monkeypatch):
    # Other batches give other last bits: a cache of batches of 8 must not serve batches of 32,
    # whose cached embeddings must be the bytes a fresh encoding in batches of 32 gives.
    in_32 = DenseEngine(corpus, cache=cache, show_progress=False, device="cpu", batch_size=32)
    assert not in_32.embeddings_from_cache and in_32.embeddings_dir != flat.embeddings_dir
    fresh = DenseEngine(corpus, cache=None, show_progress=False, device="cpu", batch_size=32)
    np.testing.assert_array_equal(in_32.embeddings, fresh.embeddings)
    assert DenseEngine(corpus, cache=cache, show_progress=False, device="cpu", batch_size=32).embeddings_from_cache

    import torch

    from searchgym.search.dense import torch_run

    assert torch_run("cuda:1") == {"torch": torch.__version__, "device": "cuda"}
    key = flat.embeddings_key
    monkeypatch.setattr(flat, "device", "cuda:0")
    assert flat.embeddings_key != key
    monkeypatch.setattr(flat, "device", "cpu")
    assert flat.embeddings_key == key
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    assert flat.embeddings_key != key


@pytest.mark.slow
def test_hnsw_and_ivf_engines(flat, corpus, cache):
    hnsw = DenseEngine(corpus, index="hnsw", cache=cache, show_progress=False, device="cpu", batch_size=8)
    assert hnsw.index_kind == "hnsw" and not hnsw.index_from_cache
    assert hnsw.embeddings_from_cache  # same corpus, model and batches as the flat engine
    queries = [name for name, *_ in PEOPLE]
    assert [h[0].doc_id for h in hnsw.search(queries, 3)] == [h[0].doc_id for h in flat.search(queries, 3)]
    assert len(hnsw.search(["town"], 100)[0]) == len(corpus)

    hnsw_again = DenseEngine(corpus, index="hnsw", cache=cache, show_progress=False, device="cpu", batch_size=8)
    assert hnsw_again.index_from_cache and hnsw_again.index_dir == hnsw.index_dir

    ivf = DenseEngine(corpus, index="ivf", cache=cache, show_progress=False, device="cpu")
    assert ivf.index_kind == "flat"  # 24 passages < IVF_MIN_PASSAGES: exact search instead
    assert [h[0].doc_id for h in ivf.search(queries, 1)] == [h[0].doc_id for h in flat.search(queries, 1)]


@pytest.mark.slow
def test_real_ivf_index_on_a_thousand_passages(tmp_path):
    """Large enough for IVF (no fallback); probing every list must equal exact search."""
    words = ["amber", "birch", "cobalt", "dune", "ember", "fjord", "granite", "heron", "iris", "juniper"]
    corpus = [
        Passage(f"n{i:04d}", f"Ledger {i}", f"Entry {i} lists {words[i % 10]} and {words[(i // 10) % 10]} goods.")
        for i in range(IVF_MIN_PASSAGES)
    ]
    cache = ArtifactCache(tmp_path)
    flat = DenseEngine(corpus, cache=cache, show_progress=False, device="cpu", batch_size=128)
    ivf = DenseEngine(corpus, index="ivf", nprobe=10_000, cache=cache, show_progress=False, device="cpu",
                      batch_size=128)
    assert ivf.index_kind == "ivf" and ivf.embeddings_from_cache
    assert ivf.index_params == {"kind": "ivf", "nlist": 25}  # min(round(sqrt(1000)), 1000 // 39)
    queries = ["amber and birch goods", "heron juniper", "Ledger 17"]
    ivf_hits, flat_hits = ivf.search(queries, 5), flat.search(queries, 5)
    # faiss and the BLAS product round differently in the last float bits: same passages
    assert [[h.doc_id for h in hits] for hits in ivf_hits] == [[h.doc_id for h in hits] for hits in flat_hits]
    np.testing.assert_allclose([[h.score for h in hits] for hits in ivf_hits],
                               [[h.score for h in hits] for hits in flat_hits], rtol=1e-5)
    ivf.nprobe = 1  # settable; a single list still returns hits
    assert all(len(hits) == 5 for hits in ivf.search(queries, 5))
    again = DenseEngine(corpus, index="ivf", cache=cache, show_progress=False, device="cpu", batch_size=128)
    assert again.index_from_cache
