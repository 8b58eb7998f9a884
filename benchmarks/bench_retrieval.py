"""Lexical retrieval against its peers: searchgym BM25, bm25s, tantivy, PISA and rank_bm25.

``pisa`` is timed on its native call (docnos and scores); ``pisa-engine`` is PISA as a backend
behind searchgym's ``SearchEngine`` would be, answering with the same ``Hit`` lists (with text)
that searchgym's BM25 returns, so the two rows bracket the choice the engine made.

The same corpus (a world of the default schema, built through the public bundle API), the same
queries and k for every peer, measured in the same process and *interleaved turn by turn*:
within a round the peers take turns of ``--turn-calls`` calls each (16 single queries, or one
batch), in an order that rotates every turn, and the figure is the median over rounds. Why turns
and not whole passes: on this shared machine the speed of a core swings by up to 2x from one
moment to the next (other sessions' work): three passes of the same 256 names through the same
engine, one after the other in one process, took 19.8, 34.8 and 17.6 µs by median call
(2026-12-04, scratch check), so peers that each ran a whole pass in turn met different
conditions; short turns (a fraction of a millisecond for names, a few ms for questions and
batches of the fast peers; longer for rank_bm25 and bm25s) meet about the same ones. Figures
from before 2026-12-04 in RESULTS.md were interleaved round by round (whole passes) and are not
strictly comparable with later ones.

Two query kinds: the world's task questions (multi-hop, 6 terms on average) and entity names
(passage titles: 1-3 rare terms). Two modes:

* one at a time: ``run([q], k)`` per query, the latency a single agent sees;
* batch of B: ``run(B queries, k)`` per call (only peers with a batch API), the throughput a
  vector env or a batching server gets.

Quality: recall@k of each peer's top k against the exact bm25s ranking (bm25s's own index and
``get_scores``, ties in corpus order), and the share of queries whose ranked list is identical
to it. searchgym's BM25 must score 1.000 on both (its scores are bm25s's, bit for bit).
See ``_peers.py`` for how each peer is configured.

    python benchmarks/bench_retrieval.py                                # 10k and 100k, all peers
    python benchmarks/bench_retrieval.py --sizes 10k --rounds 5
    python benchmarks/bench_retrieval.py --sizes 1m --include-1m --peers searchgym,pisa,tantivy
    python benchmarks/bench_retrieval.py --sizes 10k,100k --peers searchgym,dense,hybrid
    python benchmarks/bench_retrieval.py --sizes 10k,100k --peers searchgym,pisa,pisa-engine
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    CorpusSize,
    record_run,
    fmt,
    load_bundle,
    median,
    parse_sizes,
    percentile,
)
from _peers import make_peer, reference_rankings  # noqa: E402

PEERS = ("searchgym", "bm25s", "bm25s-numba", "tantivy", "pisa", "pisa-engine", "rank_bm25")
OTHER_ENGINES = ("dense", "hybrid")
console = Console(width=200, stderr=True)


@dataclass
class Measure:
    """One (corpus, query kind, peer, mode) cell, accumulated over rounds."""

    size: str
    passages: int
    kind: str
    peer: str
    mode: str
    batch: int
    build_s: float
    per_query_ms: list[float] = field(default_factory=list)  # mean per query, one value per round
    median_ms: list[float] = field(default_factory=list)  # median call / batch size, one per round
    latencies_ms: list[float] = field(default_factory=list)  # per call, all rounds
    recall: float | None = None
    identical: float | None = None

    @property
    def ms(self) -> float:
        """Median over rounds of the median call's time per query: robust to the scheduler
        pausing one pass on a loaded machine, which the mean is not."""
        return median(self.median_ms)

    @property
    def mean_ms(self) -> float:
        return median(self.per_query_ms)


HEADERS = ["corpus", "passages", "queries", "peer", "mode", "ms/query (median call)", "ms/query (mean)", "p99 ms/call",
           "searchgym is", "recall@k vs bm25s", "identical lists", "build/load s"]


def interleaved_calls(runs: dict[str, Callable[[list[str], int], Any]], calls: dict[str, list[list[str]]], k: int,
                      turn_calls: int) -> dict[str, tuple[float, list[float]]]:
    """Total seconds and per-call milliseconds of ``runs[name](call, k)`` over ``calls[name]``,
    the peers taking turns of ``turn_calls`` calls, the first of each turn rotating."""
    names = list(runs)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    turns = max((len(own) + turn_calls - 1) // turn_calls for own in calls.values()) if calls else 0
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection in the middle of one peer's turn would be charged to it alone
    try:
        for turn in range(turns):
            for name in names[turn % len(names):] + names[: turn % len(names)]:
                run, own = runs[name], latencies[name]
                for call in calls[name][turn * turn_calls : (turn + 1) * turn_calls]:
                    start = time.perf_counter()
                    run(call, k)
                    own.append((time.perf_counter() - start) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: (sum(own) / 1e3, own) for name, own in latencies.items()}


def quality(peer: Any, queries: list[str], reference: list[list[int]], k: int) -> tuple[float, float]:
    ranked = peer.rows(peer.run(queries, k)) if peer.batched else [peer.rows(peer.run([q], k))[0] for q in queries]
    recalls, same = [], 0
    for got, want in zip(ranked, reference):
        same += got == want
        if want:
            recalls.append(len(set(got) & set(want)) / len(want))
    return sum(recalls) / max(1, len(recalls)), same / max(1, len(reference))


def query_sets(bundle: Any, count: int) -> dict[str, list[str]]:
    questions = [task.question for task in bundle.tasks.tasks]
    titles = list(dict.fromkeys(p.title for p in bundle.corpus.passages if p.title))
    step = max(1, len(titles) // count)
    names = titles[::step][:count]
    return {"question": [questions[i % len(questions)] for i in range(count)], "name": names}


def bench_size(size: CorpusSize, args: argparse.Namespace, loads: list[float]) -> list[Measure]:
    start = time.perf_counter()
    bundle = load_bundle(size)
    passages = list(bundle.corpus.passages)
    console.print(f"[bold]{size.label}[/]: {len(passages):,} passages (world ready in {time.perf_counter() - start:.1f}s)")
    queries = query_sets(bundle, args.queries)
    peers, build_s = {}, {}
    for name in args.peers:
        if name == "rank_bm25" and len(passages) > args.rank_bm25_max_passages:
            console.print(f"  skip rank_bm25 on {len(passages):,} passages (> --rank-bm25-max-passages)")
            continue
        if name in OTHER_ENGINES and len(passages) > args.dense_max_passages:
            console.print(f"  skip {name} on {len(passages):,} passages (> --dense-max-passages)")
            continue
        start = time.perf_counter()
        peers[name] = make_peer(name, passages, args.threads)
        build_s[name] = time.perf_counter() - start
        console.print(f"  {name}: built/loaded in {build_s[name]:.1f}s")
    bm25s_peer = peers.get("bm25s") or make_peer("bm25s", passages, args.threads)
    reference = {kind: reference_rankings(passages, qs, args.k, bm25s_peer) for kind, qs in queries.items()}
    del bm25s_peer
    cells: dict[tuple[str, str, str], Measure] = {}
    for kind, qs in queries.items():
        for name, peer in peers.items():
            n = args.rank_bm25_queries if name == "rank_bm25" else len(qs)
            peer.run(qs[: min(8, n)], args.k)  # warm-up: compilation, lazy caches
            for mode in ("single", "batch") if peer.batched else ("single",):
                cells[kind, name, mode] = Measure(size.label, len(passages), kind, name, mode,
                                                  1 if mode == "single" else args.batch_size, build_s[name])
            if name not in OTHER_ENGINES:
                cell = cells[kind, name, "single"]
                cell.recall, cell.identical = quality(peer, qs[:n], reference[kind][:n], args.k)
    for round_number in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for kind, qs in queries.items():
            for mode in ("single", "batch"):
                taking = {name: peer for name, peer in peers.items() if mode == "single" or peer.batched}
                counts = {name: args.rank_bm25_queries if name == "rank_bm25" else len(qs) for name in taking}
                calls = {name: [[q] for q in qs[:n]] if mode == "single" else [
                    qs[i : i + args.batch_size] for i in range(0, n, args.batch_size)] for name, n in counts.items()}
                per_turn = args.turn_calls if mode == "single" else 1
                timed = interleaved_calls({name: peer.run for name, peer in taking.items()}, calls, args.k, per_turn)
                for name, (seconds, latencies) in timed.items():
                    cell = cells[kind, name, mode]
                    cell.per_query_ms.append(seconds * 1e3 / counts[name])
                    cell.median_ms.append(median(latencies) / len(calls[name][0]))
                    cell.latencies_ms += latencies
        console.print(f"  round {round_number + 1}/{args.rounds} done (load {loads[-1]:.2f})")
    for peer in peers.values():
        getattr(getattr(peer, "engine", None), "close", lambda: None)()
    return list(cells.values())


def rows_of(measures: list[Measure]) -> list[list[str]]:
    ours = {(m.size, m.kind, m.mode): m.ms for m in measures if m.peer == "searchgym"}
    rows = []
    for m in measures:
        base = ours.get((m.size, m.kind, m.mode))
        ratio = "—" if m.peer == "searchgym" or base is None else f"{m.ms / base:.2f}x faster" if m.ms >= base \
            else f"{base / m.ms:.2f}x slower"
        mode = "one at a time" if m.mode == "single" else f"batch of {m.batch}"
        rows.append([m.size, f"{m.passages:,}", m.kind, m.peer, mode, fmt(m.ms, 4), fmt(m.mean_ms, 4),
                     fmt(percentile(m.latencies_ms, 99), 3),
                     ratio, "n/a" if m.recall is None else f"{m.recall:.3f}",
                     "n/a" if m.identical is None else f"{m.identical:.3f}", fmt(m.build_s)])
    return rows


def verdicts(measures: list[Measure]) -> list[str]:
    """searchgym against the fastest lexical peer of each (corpus, kind, mode)."""
    lines = []
    groups: dict[tuple[str, str, str], list[Measure]] = {}
    for m in measures:
        groups.setdefault((m.size, m.kind, m.mode), []).append(m)
    for (size, kind, mode), group in groups.items():
        ours = [m for m in group if m.peer == "searchgym"]
        others = [m for m in group if m.peer not in ("searchgym", *OTHER_ENGINES)]
        if not ours or not others:
            continue
        best = min(others, key=lambda m: m.ms)
        ratio = ours[0].ms / best.ms
        where = "one at a time" if mode == "single" else f"batch of {ours[0].batch}"
        lines.append(f"{size}, {kind}s, {where}: searchgym {ours[0].ms:.4f} ms/query, fastest peer {best.peer} "
                     f"{best.ms:.4f} ms/query: searchgym / fastest peer = {ratio:.2f}")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k", help="comma list of 10k, 100k, 1m (default: 10k,100k)")
    parser.add_argument("--include-1m", action="store_true", help="allow the 1M-passage corpus (long build)")
    parser.add_argument("--peers", default=",".join(PEERS), type=lambda s: [p.strip() for p in s.split(",") if p.strip()],
                        help=f"comma list of {', '.join(PEERS + OTHER_ENGINES)} (default: the lexical peers)")
    parser.add_argument("--queries", type=int, default=256, help="queries of each kind (default 256)")
    parser.add_argument("--batch-size", type=int, default=64, help="B, queries per batched call (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; figures are medians (default 5)")
    parser.add_argument("--turn-calls", type=int, default=16,
                        help="single-query calls a peer makes per turn before the next peer's turn (default 16)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for batched calls of peers that take a count (PISA; default: usable cores)")
    parser.add_argument("-k", type=int, default=5, help="hits per query (default 5)")
    parser.add_argument("--rank-bm25-max-passages", type=int, default=20_000)
    parser.add_argument("--rank-bm25-queries", type=int, default=32)
    parser.add_argument("--dense-max-passages", type=int, default=20_000)
    parser.add_argument("--results", type=Path, default=RESULTS, help="markdown file to add the section to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.turn_calls < 1:
        parser.error("--turn-calls must be at least 1")
    bad = [p for p in args.peers if p not in PEERS + OTHER_ENGINES]
    if bad:
        parser.error(f"unknown peer(s) {bad}; valid: {', '.join(PEERS + OTHER_ENGINES)}")
    if "searchgym" not in args.peers:
        args.peers.insert(0, "searchgym")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    measures: list[Measure] = []
    loads: list[float] = []
    for size in parse_sizes(args.sizes, allow_1m=args.include_1m):
        measures += bench_size(size, args, loads)
    table = Table(title=f"lexical retrieval, k={args.k}, median of {args.rounds} interleaved rounds")
    for header in HEADERS:
        table.add_column(header)
    cells = rows_of(measures)
    for row in cells:
        table.add_row(*row)
    Console(width=220).print(table)
    summary = verdicts(measures)
    for line in summary:
        print(line)
    if args.no_write or not measures:
        return
    notes = [
        f"k={args.k}; {args.queries} queries of each kind; peers interleaved turn by turn ({args.turn_calls} single "
        "queries or one batch per turn, the first peer of a turn rotating); ms/query (median call) = median over "
        f"{args.rounds} rounds of each round's median call time divided by the queries per call (the ratios use it); "
        f"ms/query (mean) = median over rounds of total time / queries; "
        f"load average at the start of each round: {', '.join(f'{x:.2f}' for x in loads)}; p99 over all calls of all rounds.",
        f"batch peers use {args.threads} thread(s) where they take a count (PISA); searchgym uses its default "
        "(the usable cores) and, like PISA, does not yield them to the load average (`yield_to_load=False`: "
        "the load here is the peers' own threads); bm25s's retrieve runs single-threaded.",
        "recall and identical lists are against the exact bm25s ranking (bm25s index + get_scores, ties in corpus "
        f"order); rank_bm25 only up to {args.rank_bm25_max_passages:,} passages and {args.rank_bm25_queries} queries.",
        "tantivy is timed without reading its stored row field (its hits are document addresses).",
        *summary,
    ]
    record_run("Retrieval peers (bench_retrieval.py)", "bench_retrieval.py", argv, HEADERS, cells, notes, args.results)
    console.print(f"added to {args.results}")


if __name__ == "__main__":
    main()
