"""A sentence-transformers bi-encoder run by ONNX Runtime, in float32 or int8: faster on a CPU.

Why: encoding the corpus is the one slow step of a dense engine on a CPU (48 minutes for 100k
passages with torch on this project's 2-core machine). ONNX Runtime fuses the transformer's
attention, layer norm and GELU kernels, and its int8 weights (dynamic quantisation, per output
channel) halve the work again; ``benchmarks/bench_dense_encoding.py`` measures both against
torch on this CPU, with recall@5 against torch's rankings (``benchmarks/RESULTS.md``).

Why one thread per run, several runs at once: a short batch is too small to split well over
threads (each matrix product is a few rows of ~140 tokens by 384), so the session runs every
batch on one thread and a pool of ``threads`` workers runs that many batches side by side, while
the caller tokenises the next ones. On this project's 2-core machine
(``benchmarks/bench_dense_encoding.py``, 256 passages of the 10k world, load 1.3-2.2), int8
encoded 82.3 passages/s that way in batches of 8 and 99.9-110.5 one passage at a time, against
40.2 with two intra-op threads in batches of 16 (torch: 22-25). A batch's embeddings never depend on the
number of workers: each batch is computed alone, on one thread.

Why not sentence-transformers' own ``backend="onnx"``: it needs ``optimum``, which pins
``transformers < 4.58`` (searchgym uses 5.x). So this module exports the model itself with
``torch.onnx.export``: the transformer plus its pooling in one graph; tokenisation stays
sentence-transformers' own (``model.preprocess``), normalisation is done in numpy. Exported and
quantised graphs are cached in the :class:`~searchgym.cache.ArtifactCache`, keyed by the
model's identity and the torch and onnxruntime versions. Supported: a ``Transformer`` module
followed by mean or CLS ``Pooling`` (and optionally ``Normalize``), as all-MiniLM-L6-v2 and most
retrieval bi-encoders are.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np

from searchgym.cache import ArtifactCache, content_hash, stable_json
from searchgym.search.base import SearchError

BACKENDS: Final = ("torch", "onnx", "onnx-int8")
NAMESPACE: Final = "onnx_encoders"
_GRAPH: Final = "model.onnx"
_INPUTS: Final = ("input_ids", "attention_mask", "token_type_ids")


def _pooling_mode(model: Any) -> str:
    modules = list(model)
    names = [type(module).__name__ for module in modules]
    if (
        len(modules) < 2
        or names[0] != "Transformer"
        or names[1] != "Pooling"
        or any(name != "Normalize" for name in names[2:])
    ):
        raise SearchError(f"the ONNX backend supports Transformer + Pooling (+ Normalize) models, not {names}")
    config = modules[1].get_config_dict()
    mode = config.get("pooling_mode")  # sentence-transformers >= 5; older ones set flags
    if mode in ("mean", "cls") and not isinstance(mode, bool):
        return mode
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    raise SearchError(f"the ONNX backend supports mean or CLS pooling, not {config}")


def _tokenize(model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's own tokenisation: ``preprocess`` (sentence-transformers >= 6, which deprecates
    ``tokenize`` with a warning) or ``tokenize``."""
    preprocess = getattr(model, "preprocess", None)
    return preprocess(texts) if callable(preprocess) else model.tokenize(texts)


def _export(model: Any, pooling: str, path: Path) -> None:
    import torch

    transformer = model[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if pooling == "cls":
                return hidden[:, 0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    sample = _tokenize(model, ["an example passage", "a second, longer example passage to export"])
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    with torch.no_grad():
        torch.onnx.export(
            Pooled().eval(),
            tuple(sample[name] for name in _INPUTS),
            str(path),
            input_names=list(_INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


class OnnxEncoder:
    """``encode(texts)`` of a loaded sentence-transformers ``model``, run by ONNX Runtime.

    ``quantize=True`` runs int8 weights (dynamic quantisation of every MatMul, per channel).
    ``threads`` is how many batches run at once, each on one thread (default: torch's current
    thread count); the embeddings do not depend on it.
    """

    def __init__(
        self, model: Any, model_id: str, *, quantize: bool, cache: ArtifactCache | None, threads: int | None = None
    ) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise SearchError("the ONNX backends need onnxruntime and onnx: pip install 'searchgym[onnx]'") from error
        import torch

        self.model, self.quantize = model, quantize
        self.pooling = _pooling_mode(model)
        self.normalize = any(type(module).__name__ == "Normalize" for module in model)
        key = content_hash(
            model_id,
            stable_json(
                {
                    "pooling": self.pooling,
                    "int8": quantize,
                    "torch": torch.__version__,
                    "onnxruntime": onnxruntime.__version__,
                    "format": "onnx-v1",
                }
            ),
        )
        self.graph = self._graph(key, cache)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # see the module docstring
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])
        self.runtime_version = onnxruntime.__version__
        self.threads = max(1, threads or torch.get_num_threads())
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()

    def _workers(self) -> ThreadPoolExecutor:
        """The worker pool, started on first use in this process.

        A forked child (``AsyncVectorEnv``, multiprocessing) inherits the pool object but not its
        threads, and would wait forever on work sent to it: a pool made by another process id is
        replaced, never waited on."""
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="searchgym-onnx")
                self._pool_pid = os.getpid()
            return self._pool

    def close(self) -> None:
        """Stop this process's workers (a later ``encode`` starts new ones)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.shutdown(wait=True)

    def _graph(self, key: str, cache: ArtifactCache | None) -> Path:
        def build(directory: Path) -> dict[str, Any]:
            exported = directory / ("float32.onnx" if self.quantize else _GRAPH)
            _export(self.model, self.pooling, exported)
            if self.quantize:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                quantize_dynamic(str(exported), str(directory / _GRAPH), weight_type=QuantType.QInt8, per_channel=True)
                exported.unlink()
            return {"engine": "onnx-encoder", "int8": self.quantize, "pooling": self.pooling}

        if cache is None:
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="searchgym-onnx-")
            build(Path(self._tmp.name))
            return Path(self._tmp.name) / _GRAPH
        return cache.get_or_build(NAMESPACE, key, build) / _GRAPH

    def _feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        features = _tokenize(self.model, texts)
        feed: dict[str, np.ndarray] = {
            name: features[name].numpy().astype(np.int64) for name in _INPUTS if name in features
        }
        if "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return feed

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        (vectors,) = self._session.run(None, feed)  # thread-safe: runs share only the weights
        return vectors

    def encode(
        self, texts: list[str], *, batch_size: int = 1, normalize: bool = True, progress: bool = False
    ) -> np.ndarray:
        """Embeddings of ``texts`` (float32, one row per text), batched longest first as
        sentence-transformers does, so a batch pads to similar lengths. A lone batch (a query)
        runs on the caller's thread; more go to the worker pool, at most ``2 * threads + 1``
        in flight while the caller tokenises. A failure cancels the batches not yet started."""
        from tqdm.auto import tqdm

        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        out = np.empty((len(texts), dimension()), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(texts), batch_size)]
        with tqdm(total=len(batches), desc="Batches (onnx)", disable=not progress) as bar:
            if len(batches) == 1:
                out[batches[0]] = self._run(self._feed([texts[row] for row in batches[0]]))
                bar.update()
            elif batches:
                self._encode_on_workers(texts, batches, out, bar)
        if normalize or self.normalize:  # as sentence-transformers: its Normalize module always applies
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _encode_on_workers(self, texts: list[str], batches: list[np.ndarray], out: np.ndarray, bar: Any) -> None:
        """Fill ``out`` with the embeddings of ``batches``, run on the workers in order."""
        pool = self._workers()
        pending: deque[tuple[np.ndarray, Future[np.ndarray]]] = deque()
        try:
            for rows in batches:
                pending.append((rows, pool.submit(self._run, self._feed([texts[row] for row in rows]))))
                while pending and (len(pending) > 2 * self.threads or rows is batches[-1]):
                    done_rows, future = pending.popleft()
                    out[done_rows] = future.result()
                    bar.update()
        except BaseException:
            for _, future in pending:
                future.cancel()
            raise
