"""Which compiled method ranks a BM25 query fastest: addition, block-max WAND, or the default choice.

The figures behind the kernel's routing constants (``TAAT_MAX_POSTINGS``, ``DOMINANT_SHARE``,
``WAND_MAX_SHARE``, ``WAND_STEP_COST``, ``SCAN_MIN_SHARE`` in ``searchgym/search/bm25_index.py``):
every task question and entity name of a corpus ranked one at a time through ``PostingIndex.rank`` on one thread, with each method
forced in turn, interleaved round by round (median over rounds of each round's median and mean
call). "best of both" is the oracle that knows, per query, which of addition and WAND is faster
(measured in the same round): how much a perfect choice would gain over the default. Every
method's rankings are checked to be identical to addition's (which adds every posting, as bm25s).

    python benchmarks/bench_bm25_methods.py                       # 10k and 100k
    python benchmarks/bench_bm25_methods.py --sizes 1m --include-1m
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, load_bundle, parse_sizes, record_run  # noqa: E402
from _peers import B, K1  # noqa: E402
from bench_retrieval import query_sets  # noqa: E402

NEVER = 1 << 62
SETTINGS = ("taat_max_postings", "dominant_share", "wand_max_share", "wand_step_cost", "scan_min_share")
METHODS: dict[str, dict[str, float]] = {  # each method's settings (PostingIndex.rank's); the rest are the defaults
    "addition": {"taat_max_postings": NEVER, "dominant_share": 2.0},
    "addition, touched list only": {"taat_max_postings": NEVER, "dominant_share": 2.0, "scan_min_share": float("inf")},
    "block-max WAND": {"taat_max_postings": 0, "dominant_share": 0.0, "wand_max_share": 2.0, "wand_step_cost": -1.0},
    "WAND, handing back by share": {"taat_max_postings": 0, "dominant_share": 0.0, "wand_step_cost": -1.0},
    "WAND, handing back by share or sample": {"taat_max_postings": 0, "dominant_share": 0.0},
    "default": {},
}
HEADERS = ["corpus", "passages", "queries", "postings/query (mean)", "method", "ms/query (median call)",
           "ms/query (mean)", "ns/posting (mean)", "vs addition (mean)"]


def _settings(engine: Any, method: str) -> tuple[float, ...]:
    return tuple(METHODS[method].get(name, getattr(engine, name)) for name in SETTINGS)


def _rank_each(engine: Any, term_lists: list[list[int]], settings: tuple[float, ...], k: int) -> tuple[
    list[float], list[Any]
]:
    index, scratch = engine.index, engine._thread_scratch()
    times, results = [], []
    for terms in term_lists:
        start = time.perf_counter()
        packed = index.pack([terms], k, scratch)
        index.rank(packed, 0, 1, scratch, "numba", *settings)
        times.append(time.perf_counter() - start)
        results.append(packed.results()[0])
    return times, results


def bench_size(size: Any, args: argparse.Namespace) -> list[list[str]]:
    from searchgym.search.bm25 import BM25Engine

    bundle = load_bundle(size)
    engine = BM25Engine(bundle.corpus.passages, k1=K1, b=B, show_progress=False)
    rows = []
    for kind, queries in query_sets(bundle, args.queries).items():
        term_lists = [terms for terms in map(engine.query_terms, queries) if terms]
        postings = statistics.fmean(engine.index.postings(np.asarray(terms)) for terms in term_lists)
        reference = _rank_each(engine, term_lists, _settings(engine, "addition"), args.k)[1]
        for method in METHODS:
            got = _rank_each(engine, term_lists, _settings(engine, method), args.k)[1]
            if got != reference:
                raise SystemExit(f"{method} ranks {kind} queries differently from addition")
        per_round: dict[str, list[tuple[float, float]]] = {method: [] for method in [*METHODS, "best of both"]}
        for _ in range(args.rounds):
            round_times = {method: _rank_each(engine, term_lists, _settings(engine, method), args.k)[0]
                           for method in METHODS}
            round_times["best of both"] = [min(a, w) for a, w in zip(round_times["addition"],
                                                                       round_times["block-max WAND"])]
            for method, times in round_times.items():
                per_round[method].append((statistics.median(times), statistics.fmean(times)))
        addition_mean = statistics.median(mean for _, mean in per_round["addition"])
        for method, figures in per_round.items():
            median_call = statistics.median(m for m, _ in figures) * 1e3
            mean = statistics.median(m for _, m in figures)
            rows.append([size.label, f"{engine.index.num_docs:,}", kind, f"{postings:,.0f}", method,
                         f"{median_call:.4f}", f"{mean * 1e3:.4f}", fmt(mean / postings * 1e9, 2),
                         fmt(mean / addition_mean, 2)])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k", help="comma list of 10k, 100k, 1m (default: 10k,100k)")
    parser.add_argument("--include-1m", action="store_true", help="allow the 1M-passage corpus (long build)")
    parser.add_argument("--queries", type=int, default=128, help="queries of each kind (default 128)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not add the run to RESULTS.md")
    args = parser.parse_args(argv)
    rows = [row for size in parse_sizes(args.sizes, allow_1m=args.include_1m) for row in bench_size(size, args)]
    for row in rows:
        print(" | ".join(row))
    if not args.no_write:
        notes = [f"k={args.k}; one query per call on one thread; {args.rounds} interleaved rounds; ms/query = median "
                 "over rounds of each round's median call / mean call; rankings of every method identical to addition's."]
        record_run("BM25 ranking methods (bench_bm25_methods.py)", "bench_bm25_methods.py", argv, HEADERS, rows, notes)


if __name__ == "__main__":
    main()
