"""The ONNX Runtime encoder backends give the torch encoder's embeddings (int8: nearly) and
rankings, cache their exported graph, and reject what they cannot run."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from searchgym.cache import ArtifactCache  # noqa: E402
from searchgym.search.base import SearchError  # noqa: E402
from searchgym.search.dense import DenseEngine  # noqa: E402
from searchgym.search.onnx_encoder import NAMESPACE, OnnxEncoder  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(small_bundle):
    return small_bundle.corpus.passages[:80]


@pytest.fixture(scope="module")
def torch_engine(corpus):
    return DenseEngine(corpus, cache=None, show_progress=False)


@pytest.mark.parametrize("backend, min_cosine, min_recall", [("onnx", 0.9999, 0.99), ("onnx-int8", 0.98, 0.8)])
def test_onnx_backends_match_torch(tmp_path, small_bundle, corpus, torch_engine, backend, min_cosine, min_recall):
    cache = ArtifactCache(tmp_path / "cache")
    engine = DenseEngine(corpus, backend=backend, cache=cache, show_progress=False)
    cosine = np.sum(engine.embeddings * torch_engine.embeddings, axis=1)
    assert cosine.min() >= min_cosine
    assert np.allclose(np.linalg.norm(engine.embeddings, axis=1), 1.0, atol=1e-5)
    questions = [task.question for task in small_bundle.tasks.tasks[:40]]
    ours = [{h.doc_id for h in hits} for hits in engine.search(questions, 5)]
    theirs = [{h.doc_id for h in hits} for hits in torch_engine.search(questions, 5)]
    assert np.mean([len(a & b) / 5 for a, b in zip(ours, theirs)]) >= min_recall
    assert engine.embeddings_key != torch_engine.embeddings_key  # each backend caches its own
    again = DenseEngine(corpus, backend=backend, cache=cache, show_progress=False)
    assert again.embeddings_from_cache and len(list((tmp_path / "cache" / NAMESPACE).iterdir())) == 1
    assert again.search(questions[:3], 5) == engine.search(questions[:3], 5)


def test_unknown_backend_and_gpu_onnx_are_rejected(corpus):
    with pytest.raises(ValueError, match="option 'backend' must be one of .*got 'tensorrt'"):
        DenseEngine(corpus, backend="tensorrt", cache=None, show_progress=False)
    with pytest.raises(ValueError, match="runs on the CPU"):
        DenseEngine(corpus, backend="onnx", device="cuda", cache=None, show_progress=False)


def test_models_the_export_cannot_follow_get_a_clear_error(torch_engine):

    class NotAPipeline(list):
        pass

    with pytest.raises(SearchError, match="supports Transformer \\+ Pooling"):
        OnnxEncoder(NotAPipeline([object()]), "x", quantize=False, cache=None)


def test_an_int8_query_gets_the_same_hits_alone_and_in_any_batch(small_bundle, corpus):
    """int8 quantises a call's activations with one scale for the batch: queries run alone."""
    engine = DenseEngine(corpus, backend="onnx-int8", cache=None, show_progress=False)
    questions = [task.question for task in small_bundle.tasks.tasks[:24]]
    together = engine.encode_queries(questions)
    alone = np.vstack([engine.encode_queries([question]) for question in questions])
    assert np.array_equal(together, alone)
    batched, single = engine.search(questions, 5), [engine.search([question], 5)[0] for question in questions]
    assert [[h.doc_id for h in hits] for hits in batched] == [[h.doc_id for h in hits] for hits in single]
    assert np.allclose([[h.score for h in hits] for hits in batched], [[h.score for h in hits] for hits in single])
    assert engine.batch_size == 1  # the ONNX default; the corpus key names it
    other = DenseEngine(corpus, backend="onnx-int8", batch_size=64, cache=None, show_progress=False)
    assert other.embeddings_key != engine.embeddings_key


def test_int8_embeddings_do_not_depend_on_how_many_batches_run_at_once(corpus):
    """Each batch runs alone on one thread: one worker or three give the same bits, in order."""
    engine = DenseEngine(corpus, backend="onnx-int8", cache=None, show_progress=False)
    texts = list(engine.store.index_texts())
    alone = OnnxEncoder(engine.model, engine.model_id, quantize=True, cache=None, threads=1)
    together = OnnxEncoder(engine.model, engine.model_id, quantize=True, cache=None, threads=3)
    one_worker = alone.encode(texts, batch_size=8)
    assert np.array_equal(one_worker, together.encode(texts, batch_size=8))
    assert not np.array_equal(one_worker, alone.encode(texts, batch_size=16))  # batches matter (int8 scales)
    # the engine's default: every passage alone, so a passage embeds as it would as a query
    assert engine.batch_size == 1
    each = np.vstack([alone.encode([text]) for text in texts[:10]])
    assert np.array_equal(engine.embeddings[:10], each)
    assert np.array_equal(engine.embeddings, together.encode(texts))


def test_float32_embeddings_depend_on_the_batch_size_so_its_cache_key_holds_it(torch_engine, corpus):
    """float32 ONNX too gives other last bits in other batches (other GEMM shapes), so a cache
    filled in batches of 8 must not serve batches of 1 (as for torch and int8)."""
    encoder = OnnxEncoder(torch_engine.model, torch_engine.model_id, quantize=False, cache=None, threads=1)
    texts = list(torch_engine.store.index_texts())[:24]
    alone, in_eights = encoder.encode(texts, batch_size=1), encoder.encode(texts, batch_size=8)
    assert not np.array_equal(alone, in_eights) and np.allclose(alone, in_eights, atol=1e-6)
    one = DenseEngine(corpus, backend="onnx", cache=None, show_progress=False)
    eight = DenseEngine(corpus, backend="onnx", batch_size=8, cache=None, show_progress=False)
    assert one.embeddings_key != eight.embeddings_key


def _encode_in_child(encoder, texts, results):
    results.put(encoder.encode(texts, batch_size=1))


def test_an_encoder_inherited_by_a_forked_child_still_encodes(torch_engine, corpus):
    """A forked child inherits the worker pool without its threads: it must start its own,
    not wait forever (AsyncVectorEnv and multiprocessing fork engines made in the parent)."""
    import multiprocessing

    encoder = OnnxEncoder(torch_engine.model, torch_engine.model_id, quantize=True, cache=None, threads=2)
    texts = list(torch_engine.store.index_texts())[:6]
    expected = encoder.encode(texts)  # six batches: the parent's pool is running
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_encode_in_child, args=(encoder, texts, results))
    child.start()
    try:
        got = results.get(timeout=120)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert np.array_equal(got, expected)
    encoder.close()
    assert np.array_equal(encoder.encode(texts), expected)  # a closed encoder starts new workers
