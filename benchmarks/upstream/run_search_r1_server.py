"""Start Search-R1's retrieval server (``retrieval_server.py``, unchanged) on a CPU.

The server is the upstream copy the interop tests use, ``tests/interop/upstream/search_r1/``
(see its ``Notice.txt`` for the commit), so the benchmark and the tests run the same file.

Used by ``benchmarks/bench_server.py``. What differs from the upstream ``__main__`` block, and why:

1. no GPU on this machine: torch's ``.cuda()`` (``model.cuda()``, ``tensor.cuda()``) is made the
   identity, so the model and its inputs stay on the CPU (``torch.cuda.empty_cache()`` is already
   a no-op without CUDA);
2. fp16 off: the upstream ``__main__`` turns it on for GPUs; half precision on a CPU is slower;
3. loopback host, a chosen port, and the index, corpus and model paths from the command line.

Everything else is the upstream code: the corpus loaded with ``datasets``, the faiss index read
from disk, its ``Encoder`` (``AutoModel`` + mean pooling + normalisation, max 256 tokens) and
its FastAPI ``/retrieve`` endpoint, served by uvicorn as upstream does.

    python benchmarks/upstream/run_search_r1_server.py --index idx.faiss --corpus corpus.jsonl \\
        --model /path/to/all-MiniLM-L6-v2 --port 8100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import uvicorn

torch.nn.Module.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]

UPSTREAM = Path(__file__).resolve().parents[2] / "tests" / "interop" / "upstream" / "search_r1" / "search_r1" / "search"
sys.path.insert(0, str(UPSTREAM))
import retrieval_server as server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topk", type=int, default=3)
    args = parser.parse_args()
    server.config = server.Config(  # the module's endpoint reads these two globals, as upstream
        retrieval_method="minilm",  # not "bm25" -> DenseRetriever; not e5/bge -> no query prefix
        index_path=args.index,
        corpus_path=args.corpus,
        retrieval_topk=args.topk,
        faiss_gpu=False,
        retrieval_model_path=args.model,
        retrieval_pooling_method="mean",
        retrieval_query_max_length=256,
        retrieval_use_fp16=False,
        retrieval_batch_size=512,
    )
    server.retriever = server.get_retriever(server.config)
    uvicorn.run(server.app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
