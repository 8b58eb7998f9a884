"""Corpus encoding on a CPU: torch (today's encoder) against ONNX Runtime float32 and int8.

Throughput: the same ``--passages`` passages of a world's corpus encoded by each backend of
:class:`~searchgym.search.dense.DenseEngine` (the all-MiniLM-L6-v2 bundled with searchgym,
each backend's default batch: torch 64, ONNX 8), rounds interleaved, median of ``--rounds``. Quality: on a sub-corpus of
``--corpus-passages`` passages, each backend's top 5 for the world's task questions against
torch's top 5 (recall@5 vs the current encoder), and the mean cosine of each backend's passage
embedding to torch's.

    python benchmarks/bench_dense_encoding.py                      # 10k world, 256 passages x 3
    python benchmarks/bench_dense_encoding.py --corpus-passages 2000
    python benchmarks/bench_dense_encoding.py --backends torch,onnx-int8@4,onnx-int8@8,onnx-int8@16

A backend written ``name@B`` encodes in batches of ``B`` instead of its default (the int8
corpus embeddings depend on the batch, so each such row has its own recall@5).

GPU (not lent to this run): ``DenseEngine(..., device="cuda")`` encodes with torch on the GPU
(the ONNX backends are CPU-only); measure it with ``--backends torch --device cuda``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, SIZES, fmt, load_bundle, markdown_table, median, record_run  # noqa: E402

BACKENDS = ("torch", "onnx", "onnx-int8")


def parse_backends(labels: Sequence[str]) -> dict[str, tuple[str, int | None]]:
    """``{label: (backend, batch size or None for the backend's default)}`` of ``name[@B]`` labels."""
    parsed: dict[str, tuple[str, int | None]] = {}
    for label in labels:
        backend, _, batch = label.partition("@")
        if backend not in BACKENDS or (batch and (not batch.isdigit() or int(batch) < 1)):
            raise SystemExit(f"--backends: {label!r} is not one of {BACKENDS}, optionally @<positive batch size>")
        parsed[label] = (backend, int(batch) if batch else None)
    return parsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="10k")
    parser.add_argument("--passages", type=int, default=256, help="passages encoded per round (default 256)")
    parser.add_argument("--corpus-passages", type=int, default=1000, help="sub-corpus for recall@5 (default 1000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS), type=lambda s: s.split(","),
                        help="comma list of torch, onnx, onnx-int8, each optionally @batch-size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from searchgym.search.dense import DenseEngine
    from searchgym.search.corpus_index import PassageStore

    bundle = load_bundle(SIZES[args.size])
    passages = list(bundle.corpus.passages)
    step = max(1, len(passages) // args.corpus_passages)
    corpus = passages[::step][: args.corpus_passages]
    engines = {label: DenseEngine(corpus, backend=backend, batch_size=batch, device=args.device, show_progress=True)
               for label, (backend, batch) in parse_backends(args.backends).items()}
    texts = [PassageStore.index_text(p) for p in passages[1::step][: args.passages]]
    rates: dict[str, list[float]] = {b: [] for b in engines}
    loads = []
    for engine in engines.values():
        engine._encode(texts[:32], progress=False)  # warm-up
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for backend, engine in engines.items():  # interleaved
            start = time.perf_counter()
            engine._encode(texts, progress=False)
            rates[backend].append(len(texts) / (time.perf_counter() - start))
    questions = [task.question for task in bundle.tasks.tasks][:256]
    reference = engines["torch"] if "torch" in engines else None
    tops = {b: [[h.doc_id for h in hits] for hits in e.search(questions, 5)] for b, e in engines.items()}
    headers = ["backend", "passages/s (median)", "vs torch", "recall@5 vs torch", "mean cosine to torch"]
    rows = []
    for backend, engine in engines.items():
        base = median(rates["torch"]) if "torch" in rates else float("nan")
        if reference is None:
            recall = cosine = float("nan")
        else:
            recall = float(np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(tops[backend], tops["torch"])]))
            cosine = float(np.mean(np.sum(engine.embeddings * reference.embeddings, axis=1)))
        rows.append([backend, fmt(median(rates[backend])), f"{median(rates[backend]) / base:.2f}x", f"{recall:.3f}",
                     f"{cosine:.4f}"])
    print(markdown_table(headers, rows))
    batches = ", ".join(f"{b} {e.batch_size}" for b, e in engines.items())
    notes = [f"{args.passages} passages of the {args.size} world per round, {args.rounds} interleaved rounds, "
             f"batch sizes {batches}, device {args.device}; load average at the start of each round: {', '.join(f'{x:.2f}' for x in loads)}.",
             f"recall@5: {len(questions)} task questions over a {len(corpus):,}-passage sub-corpus (every {step}th "
             "passage), exact inner-product search; torch = sentence-transformers, today's encoder."]
    print("\n".join(notes))
    if not args.no_write:
        record_run("Dense corpus encoding (bench_dense_encoding.py)", "bench_dense_encoding.py", argv, headers, rows,
                   notes, args.results)


if __name__ == "__main__":
    main()
