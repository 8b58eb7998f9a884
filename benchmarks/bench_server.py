"""Loopback load test: ``searchgym serve`` against the real Search-R1 retrieval server.

Both servers run as separate processes on this machine, on the same corpus (a world of the
default schema, built through the public bundle API), and get the same load from one client
process: ``C`` closed-loop clients (each sends a request, waits for the answer, sends the
next), one query per request in Search-R1's own body ``{"queries": [q], "topk": 3,
"return_scores": true}``, the queries being the world's task questions. Every (server, C) cell
runs ``--seconds`` after a warm-up; rounds are interleaved (every cell once per round) and the
figures are medians over rounds. Latency percentiles pool all requests of all rounds.

* ``dense``: our server (``searchgym serve --set engine=dense``: MiniLM-L6 + exact search) vs
  Search-R1's ``retrieval_server.py`` (the unchanged upstream copy in
  ``tests/interop/upstream/search_r1/``, started by ``upstream/run_search_r1_server.py``: CPU
  instead of CUDA, fp32) over a faiss ``IndexFlatIP``
  of the *same* embeddings and a corpus file in its format. Their answers are compared too.
* ``bm25``: our server alone (Search-R1's BM25 path needs pyserini and a Java Lucene index);
  this is where the p99 / p50 target is checked.

    python benchmarks/bench_server.py --engine dense --size 10k
    python benchmarks/bench_server.py --engine bm25 --size 100k --clients 1,16,128
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS,
    SIZES,
    record_run,
    env_overrides,
    fmt,
    load_bundle,
    markdown_table,
    median,
    percentile,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@dataclass
class Cell:
    server: str
    clients: int
    throughput: list[float] = field(default_factory=list)  # requests/s, one per round
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float, probe: dict[str, Any]) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {url} exited with {process.returncode} (its log is in the bench's temp dir)")
        try:
            if httpx.post(url + "/retrieve", json=probe, timeout=30, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"server {url} not answering after {timeout}s")


def _log(workdir: Path, name: str) -> Any:
    """A log file for a server's output (a pipe nobody reads would fill up and stall it)."""
    return (workdir / f"{name}.log").open("wb")


def start_ours(engine: str, size_label: str, port: int, env: dict[str, str], workdir: Path) -> subprocess.Popen:
    sets = [f"{key}={value}" for key, value in env_overrides(SIZES[size_label]).items()] + [f"engine={engine}"]
    command = [sys.executable, "-m", "searchgym.cli", "serve", "--env", "SearchQA-v0", "--port", str(port), "--topk", "3"]
    for item in sets:
        command += ["--set", item]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=_log(workdir, "searchgym"))


def start_search_r1(passages: Sequence[Any], workdir: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    """Write Search-R1's corpus file and a faiss flat index of searchgym's own embeddings."""
    import faiss
    import numpy as np

    from searchgym.search.dense import DenseEngine, default_model_path

    embeddings = DenseEngine(passages, show_progress=True).embeddings  # the cached corpus encoding
    index = faiss.IndexFlatIP(embeddings.shape[1])
    index.add(np.ascontiguousarray(embeddings))
    faiss.write_index(index, str(workdir / "flat.index"))
    with (workdir / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for row, passage in enumerate(passages):  # Search-R1's format: "title"\ntext in contents
            out.write(json.dumps({"id": str(row), "contents": f'"{passage.title}"\n{passage.text}'}) + "\n")
    command = [sys.executable, str(HERE / "upstream" / "run_search_r1_server.py"), "--index", str(workdir / "flat.index"),
               "--corpus", str(workdir / "corpus.jsonl"), "--model", str(default_model_path()), "--port", str(port)]
    env = {**env, "HF_DATASETS_CACHE": str(workdir / "hf-datasets")}
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=_log(workdir, "search-r1"))


async def load(url: str, queries: list[str], clients: int, seconds: float, warmup: float) -> tuple[float, list[float], int]:
    """``clients`` closed-loop clients for ``warmup + seconds``; requests/s and latencies (ms)
    of the requests sent after the warm-up."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    measure_from, stop_at = started + warmup, started + warmup + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(offset: int) -> None:
            nonlocal errors
            i = offset
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                body = {"queries": [queries[i % len(queries)]], "topk": 3, "return_scores": True}
                async with session.post(url + "/retrieve", json=body) as response:
                    await response.read()
                    ok = response.status == 200
                done = time.perf_counter()
                if sent >= measure_from and done <= stop_at:
                    latencies.append((done - sent) * 1e3)
                    errors += not ok
                i += clients

        await asyncio.gather(*(client(c * 7919) for c in range(clients)))
    return len(latencies) / seconds, latencies, errors


def agreement(urls: dict[str, str], queries: list[str]) -> float:
    """Share of queries whose top-3 contents are the same on both servers."""
    import httpx

    same = 0
    for query in queries:
        answers = []
        for url in urls.values():
            body = httpx.post(url + "/retrieve", json={"queries": [query], "topk": 3, "return_scores": True},
                              timeout=60, trust_env=False).json()
            answers.append([hit["document"]["contents"] for hit in body["result"][0]])
        same += answers[0] == answers[1]
    return same / len(queries)


def run(args: argparse.Namespace) -> tuple[list[Cell], dict[str, Any]]:
    bundle = load_bundle(SIZES[args.size])
    passages = list(bundle.corpus.passages)
    queries = [task.question for task in bundle.tasks.tasks]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    probe = {"queries": [queries[0]], "topk": 3, "return_scores": True}  # Search-R1 500s without it
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-"))
    processes: dict[str, subprocess.Popen] = {}
    urls: dict[str, str] = {}
    info: dict[str, Any] = {"passages": len(passages)}
    try:
        port = free_port()
        processes["searchgym"] = start_ours(args.engine, args.size, port, env, workdir)
        urls["searchgym"] = f"http://127.0.0.1:{port}"
        if args.engine == "dense" and not args.no_search_r1:
            port = free_port()
            processes["Search-R1"] = start_search_r1(passages, workdir, port, env)
            urls["Search-R1"] = f"http://127.0.0.1:{port}"
        for name, url in urls.items():
            started = time.perf_counter()
            wait_healthy(url, processes[name], args.startup_timeout, probe)
            print(f"{name} ready at {url} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        if len(urls) == 2:
            info["agreement"] = agreement(urls, queries[:50])
        cells = {(name, c): Cell(name, c) for c in args.clients for name in urls}
        loads = []
        for round_number in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for clients in args.clients:
                for name, url in urls.items():
                    rate, latencies, errors = asyncio.run(load(url, queries, clients, args.seconds, args.warmup))
                    cell = cells[name, clients]
                    cell.throughput.append(rate)
                    cell.latencies_ms += latencies
                    cell.errors += errors
                    print(f"round {round_number + 1} {name} C={clients}: {rate:.1f} req/s", file=sys.stderr)
        info["loads"] = loads
        return list(cells.values()), info
    finally:
        for process in processes.values():
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


HEADERS = ["engine", "corpus", "server", "clients", "requests/s (median)", "p50 ms", "p99 ms", "p99 / p50",
           "searchgym / Search-R1 (req/s)", "errors"]


def table(cells: list[Cell], args: argparse.Namespace, info: dict[str, Any]) -> list[list[str]]:
    rate = {(c.server, c.clients): median(c.throughput) for c in cells}
    rows = []
    for c in cells:
        p50, p99 = percentile(c.latencies_ms, 50), percentile(c.latencies_ms, 99)
        theirs = rate.get(("Search-R1", c.clients))
        ratio = f"{rate[c.server, c.clients] / theirs:.2f}x" if c.server == "searchgym" and theirs else "—"
        rows.append([args.engine, f"{args.size} ({info['passages']:,} passages)", c.server, str(c.clients),
                     fmt(rate[c.server, c.clients]), fmt(p50, 2), fmt(p99, 2), fmt(p99 / p50, 2), ratio, str(c.errors)])
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["bm25", "dense"], default="dense")
    parser.add_argument("--size", choices=sorted(SIZES), default="10k")
    parser.add_argument("--clients", default="1,16,128", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per cell (default 8)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startup-timeout", type=float, default=900.0)
    parser.add_argument("--no-search-r1", action="store_true", help="dense: run our server only")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cells, info = run(args)
    rows = table(cells, args, info)
    print(markdown_table(HEADERS, rows))
    notes = [f"{len(args.clients)} client counts x {args.rounds} interleaved rounds, {args.seconds:g} s measured per "
             f"cell after {args.warmup:g} s warm-up; load average at the start of each round: "
             f"{', '.join(f'{x:.2f}' for x in info['loads'])}.",
             "client: one aiohttp process on the same 2 cores, closed loop, one query per request, topk 3, "
             "return_scores; latency = request sent to answer read."]
    if "agreement" in info:
        notes.append(f"same top-3 contents on both servers for {info['agreement']:.0%} of 50 task questions.")
    print("\n".join(notes))
    if not args.no_write:
        record_run("Server under load (bench_server.py)", "bench_server.py", argv, HEADERS, rows, notes, args.results)


if __name__ == "__main__":
    main()
