"""Exact dense search kernels: faiss ``IndexFlatIP`` vs searchgym's ``ExactInnerProductIndex``.

Both search the real all-MiniLM-L6-v2 embeddings of a benchmark corpus (encoded once and
cached by ``DenseEngine``) with real query embeddings (the task questions), top-``k``, at each
batch size. Reported per *query*, so a kernel that gains nothing from batching shows a flat
line. A second table times the whole ``DenseEngine.search`` (encode + search + hits) with each
kernel, since the thread pools of the encoder (torch) and of the search kernel interact.

Why this exists: ``DenseEngine``'s exact index used faiss's ``IndexFlatIP`` until it measured
no cheaper per query in batches on this machine; this script is that measurement, re-runnable.

    python benchmarks/bench_exact_search.py                      # 100k passages
    python benchmarks/bench_exact_search.py --sizes 10k --batches 1,16
    python benchmarks/bench_exact_search.py --random-vectors 1016321 --batches 1,16,64

``--random-vectors N`` times the kernels alone on N random unit vectors of dimension 384 instead
of a corpus: for corpus sizes whose real embeddings would take hours to encode on a CPU (a
kernel's cost depends on the shape, not on the values). No engine table is made then.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RESULTS,
    append_results,
    fmt,
    load_bundle,
    markdown_table,
    median,
    parse_sizes,
)

console = Console(width=160)


class FaissFlat:
    """faiss's exhaustive inner-product index, as ``DenseEngine`` used it before."""

    name = "faiss IndexFlatIP"

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> Any:
        return self.index.search(queries, k)


def per_query_ms(search: Callable[[Any], Any], batches: list[Any], repeats: int) -> float:
    """Median over ``repeats`` rounds of (time for all batches / queries), in ms."""
    search(batches[0])  # warm-up
    queries = sum(len(batch) for batch in batches)
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            search(batch)
        rounds.append((time.perf_counter() - start) / queries * 1e3)
    return median(rounds)


def run_random(args: argparse.Namespace) -> list[list[str]]:
    """Kernel timings on random unit vectors (shape-only cost), for corpora too big to encode."""
    from searchgym.search.exact import ExactInnerProductIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.random_vectors, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, 384), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    kernels = [FaissFlat(vectors), ExactInnerProductIndex(vectors)]
    rows = []
    for batch in args.batches:
        chunks = [queries[i:i + batch] for i in range(0, len(queries), batch)]
        cells = ["random unit vectors", f"{args.random_vectors:,}", str(batch)]
        for kernel in kernels:
            cells.append(fmt(per_query_ms(lambda b, kernel=kernel: kernel.search(b, args.k), chunks, args.repeats), 2))
        rows.append(cells)
        console.print(" | ".join(cells))
    return rows


def run(args: argparse.Namespace) -> tuple[list[list[str]], list[list[str]]]:
    from searchgym.search.dense import DenseEngine
    from searchgym.search.exact import ExactInnerProductIndex

    if args.random_vectors:
        return run_random(args), []
    kernel_rows, engine_rows = [], []
    for size in parse_sizes(args.sizes, allow_1m=args.include_1m):
        bundle = load_bundle(size)
        engine = DenseEngine(bundle.corpus.passages, show_progress=True, device="cpu")
        passages = len(engine.embeddings)
        questions = [task.question for task in bundle.tasks.tasks]
        queries = [questions[i % len(questions)] for i in range(args.queries)]
        vectors = engine.encode_queries(queries)
        kernels = [FaissFlat(engine.embeddings), ExactInnerProductIndex(engine.embeddings)]
        for batch in args.batches:
            chunks = [vectors[i:i + batch] for i in range(0, len(vectors), batch)]
            cells = [size.label, f"{passages:,}", str(batch)]
            for kernel in kernels:
                cells.append(fmt(per_query_ms(lambda b, kernel=kernel: kernel.search(b, args.k), chunks, args.repeats), 2))
            kernel_rows.append(cells)
            console.print(" | ".join(cells))
        text_chunks = {batch: [queries[i:i + batch] for i in range(0, len(queries), batch)] for batch in args.batches}
        exact_index = engine._index
        for kernel in kernels:
            engine._index = getattr(kernel, "index", kernel)  # a faiss index or ours: DenseEngine takes both
            for batch in args.batches:
                ms = per_query_ms(lambda b, engine=engine: engine.search(b, args.k), text_chunks[batch], args.repeats)
                engine_rows.append([size.label, f"{passages:,}", getattr(kernel, 'name', 'ExactInnerProductIndex'), str(batch), fmt(ms, 2)])
                console.print(" | ".join(engine_rows[-1]))
        engine._index = exact_index
    return kernel_rows, engine_rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k", help="comma list of 10k, 100k, 1m (default: 100k)")
    parser.add_argument("--include-1m", action="store_true")
    parser.add_argument("--batches", default="1,2,4,8,16,64",
                        type=lambda s: [int(b) for b in s.split(",") if b.strip()])
    parser.add_argument("--queries", type=int, default=128, help="queries per measurement (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per measurement; the median is kept")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--random-vectors", type=int, default=0,
                        help="time the kernels only, on this many random unit vectors (no corpus)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    kernel_rows, engine_rows = run(args)
    kernel_headers = ["corpus", "passages", "B", "faiss IndexFlatIP ms/query", "ExactInnerProductIndex ms/query"]
    engine_headers = ["corpus", "passages", "exact kernel", "B", "DenseEngine.search ms/query"]
    for title, headers, rows in (("search kernel only", kernel_headers, kernel_rows),
                                 ("DenseEngine.search (encode + search)", engine_headers, engine_rows)):
        if not rows:
            continue
        table = Table(title=title)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if not args.no_write and kernel_rows:
        if args.random_vectors:
            body = "\n\n".join([
                "Search kernel only, on random unit vectors (d=384; the cost depends on the shape only):",
                markdown_table(kernel_headers, kernel_rows),
                f"- k={args.k}; {args.queries} random queries per measurement, median of {args.repeats} rounds.",
            ])
        else:
            body = "\n\n".join([
                "Search kernel only (query embeddings precomputed):",
                markdown_table(kernel_headers, kernel_rows),
                "Whole `DenseEngine.search` (MiniLM query encoding + kernel + hits):",
                markdown_table(engine_headers, engine_rows),
                f"- k={args.k}; {args.queries} queries (task questions) per measurement, median of "
                f"{args.repeats} rounds; real MiniLM embeddings of the corpus.",
            ])
        command = "python benchmarks/bench_exact_search.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        append_results("Exact dense search (bench_exact_search.py)", command.strip(), body, args.results)
        console.print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
