"""Retrieval throughput and latency of searchgym's engines, batched vs unbatched.

Engines: ``bm25`` (ours, bm25s sparse matrix), ``rank_bm25`` (``BM25Okapi``, a pure-numpy peer
that scores every document per query), ``dense`` (all-MiniLM-L6-v2 + exact faiss flat index)
and ``hybrid`` (bm25 + dense, reciprocal rank fusion). Queries are the task questions of the
world, cycled to ``--queries``.

* unbatched: a loop of ``engine.search([q], k)``; latency = one call = one query.
* batched: ``engine.search(batch_of_B, k)`` calls; latency = one call = B queries.

Caps, printed in the results: ``rank_bm25`` has no batch API and costs O(corpus) per query, so
it only runs on corpora up to ``--rank-bm25-max-passages`` with ``--rank-bm25-queries`` queries;
``dense``/``hybrid`` must first encode the whole corpus (minutes per 100k passages on a CPU), so
they only run up to ``--dense-max-passages``. Build / load times are reported separately.

    python benchmarks/bench_retrieval.py                       # 10k and 100k passages
    python benchmarks/bench_retrieval.py --sizes 10k --engines bm25,dense --queries 128
    python benchmarks/bench_retrieval.py --sizes 1m --include-1m   # very long
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    CorpusSize,
    append_results,
    fmt,
    load_bundle,
    markdown_table,
    median,
    parse_sizes,
    percentile,
)

ENGINES = ("bm25", "rank_bm25", "dense", "hybrid")
console = Console(width=180)


@dataclass
class Row:
    size: str
    passages: int
    engine: str
    mode: str
    queries: int
    batch: int
    qps: float
    p50_ms: float
    p99_ms: float
    build_s: float
    note: str = ""

    def cells(self) -> list[str]:
        return [self.size, f"{self.passages:,}", self.engine, self.mode, str(self.queries), str(self.batch),
                fmt(self.qps), fmt(self.p50_ms, 2), fmt(self.p99_ms, 2), fmt(self.build_s), self.note]


HEADERS = ["corpus", "passages", "engine", "mode", "queries", "B", "queries/s", "p50 ms/call", "p99 ms/call",
           "build/load s", "note"]


class RankBM25Peer:
    """``rank_bm25.BM25Okapi`` behind the SearchEngine ``search`` signature.

    Tokenisation is lower-cased ``\\w+`` (no stemming or stopwords), the usual way it is used;
    top-k by ``argpartition`` on the full score vector.
    """

    name = "rank_bm25"

    def __init__(self, texts: Sequence[str]) -> None:
        from rank_bm25 import BM25Okapi

        self._bm25 = BM25Okapi([self.tokenize(text) for text in texts])

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())

    def search(self, queries: list[str], k: int) -> list[list[int]]:
        results = []
        for query in queries:  # no batch API: a batch is a loop
            scores = self._bm25.get_scores(self.tokenize(query))
            top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
            results.append(top[np.argsort(-scores[top])].tolist())
        return results


def build_engine(name: str, passages: list[Any]) -> Any:
    if name == "rank_bm25":
        return RankBM25Peer([f"{p.title} {p.text}" for p in passages])
    from searchgym.search.factory import make_engine

    return make_engine(name, passages, show_progress=False)


def time_calls(search: Callable[[list[str], int], Any], batches: list[list[str]], k: int) -> list[float]:
    """Wall time (s) of each ``search(batch, k)`` call."""
    latencies = []
    for batch in batches:
        start = time.perf_counter()
        search(batch, k)
        latencies.append(time.perf_counter() - start)
    return latencies


def measure(size: CorpusSize, passages: int, name: str, engine: Any, queries: list[str], k: int,
            batch: int, build_s: float, note: str) -> list[Row]:
    engine.search(queries[: min(len(queries), batch)], k)  # warm-up (lazy init, caches)
    rows = []
    single = time_calls(engine.search, [[q] for q in queries], k)
    rows.append(Row(size.label, passages, name, "unbatched", len(queries), 1, len(queries) / sum(single),
                    median(single) * 1e3, percentile(single, 99) * 1e3, build_s, note))
    if name != "rank_bm25":
        chunks = [queries[i:i + batch] for i in range(0, len(queries), batch)]
        batched = time_calls(engine.search, chunks, k)
        rows.append(Row(size.label, passages, name, "batched", len(queries), batch, len(queries) / sum(batched),
                        median(batched) * 1e3, percentile(batched, 99) * 1e3, build_s, note))
    return rows


def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for size in parse_sizes(args.sizes, allow_1m=args.include_1m):
        start = time.perf_counter()
        bundle = load_bundle(size)
        passages = list(bundle.corpus.passages)
        console.print(f"[bold]{size.label}[/]: {len(passages):,} passages, {len(bundle.tasks.tasks)} tasks "
                      f"(world built/loaded in {time.perf_counter() - start:.1f}s)")
        questions = [task.question for task in bundle.tasks.tasks]
        queries = [questions[i % len(questions)] for i in range(args.queries)]
        for name in args.engines:
            note = ""
            n_queries = queries
            if name == "rank_bm25":
                if len(passages) > args.rank_bm25_max_passages:
                    console.print(f"  skip rank_bm25 on {len(passages):,} passages (> --rank-bm25-max-passages)")
                    continue
                n_queries = queries[: args.rank_bm25_queries]
                note = "no stemming, no batch API"
            if name in ("dense", "hybrid") and len(passages) > args.dense_max_passages:
                console.print(f"  skip {name} on {len(passages):,} passages (> --dense-max-passages: corpus encoding)")
                continue
            start = time.perf_counter()
            engine = build_engine(name, passages)
            build_s = time.perf_counter() - start
            if name in ("dense", "hybrid"):
                note = "MiniLM-L6 on CPU, exact search (one BLAS product per call)"
            console.print(f"  {name}: built/loaded in {build_s:.1f}s; measuring {len(n_queries)} queries")
            rows += measure(size, len(passages), name, engine, n_queries, args.k, args.batch_size, build_s, note)
            del engine
    return rows


def show(rows: list[Row]) -> None:
    table = Table(title="retrieval throughput (k={})".format(ARGS.k if ARGS else "?"))
    for header in HEADERS:
        table.add_column(header, justify="right" if header not in ("engine", "mode", "note", "corpus") else "left")
    for row in rows:
        table.add_row(*row.cells())
    console.print(table)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k", help="comma list of 10k, 100k, 1m (default: 10k,100k)")
    parser.add_argument("--include-1m", action="store_true", help="allow the 1M-passage corpus (very slow build)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        type=lambda s: [e.strip() for e in s.split(",") if e.strip()],
                        help=f"comma list of {', '.join(ENGINES)}")
    parser.add_argument("--queries", type=int, default=256, help="queries per engine (default 256)")
    parser.add_argument("--batch-size", type=int, default=64, help="B: queries per batched call (default 64)")
    parser.add_argument("-k", type=int, default=5, help="hits per query (default 5)")
    parser.add_argument("--rank-bm25-max-passages", type=int, default=20_000)
    parser.add_argument("--rank-bm25-queries", type=int, default=32)
    parser.add_argument("--dense-max-passages", type=int, default=20_000,
                        help="skip dense/hybrid above this size (encoding 100k passages takes minutes on a CPU)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args(argv)
    bad = [e for e in args.engines if e not in ENGINES]
    if bad:
        parser.error(f"unknown engine(s) {bad}; valid: {', '.join(ENGINES)}")
    return args


ARGS: argparse.Namespace | None = None


def main(argv: Sequence[str] | None = None) -> None:
    global ARGS
    ARGS = args = parse_args(argv)
    rows = run(args)
    show(rows)
    if not args.no_write and rows:
        notes = [
            f"k={args.k}; unbatched = one `search([q], k)` call per query, batched = `search(B queries, k)`; "
            "latency columns are per call (one query unbatched, B queries batched).",
            f"rank_bm25 capped at {args.rank_bm25_max_passages:,} passages and {args.rank_bm25_queries} queries "
            "(O(corpus) per query, no batching); dense/hybrid only up to "
            f"{args.dense_max_passages:,} passages (corpus encoding on CPU). Build/load time uses the on-disk "
            "cache when present (bm25 index, dense embeddings).",
        ]
        body = markdown_table(HEADERS, [row.cells() for row in rows]) + "\n\n" + "\n".join(f"- {n}" for n in notes)
        command = "python benchmarks/bench_retrieval.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        append_results("Retrieval (bench_retrieval.py)", command.strip(), body, args.results)
        console.print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
