"""Large-world benchmark: build time and peak memory of world, corpus, tasks and BM25 index.

Each size runs in a fresh subprocess (so peak RSS is per size) that prints one JSON line per
finished stage; a stage killed by the time budget or the OOM killer is reported as where the
run broke, with the last completed stage's numbers.

    python benchmarks/bench_large_world.py --sizes 10000 100000 1000000 --budget 600 \
        --output benchmarks/RESULTS-large-world.md

Memory: ``rss_mb`` is the resident set after the stage (``/proc/self/statm``), ``peak_mb`` the
process high-water mark so far (``getrusage(RUSAGE_SELF).ru_maxrss``); their stage-to-stage
deltas attribute memory to world / corpus / tasks / index.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("world", "lint_world", "corpus", "lint_corpus", "tasks", "bm25_index", "bm25_query")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(size: int, seed: int, tasks_per_type: int, passage_words: int = 100) -> None:
    """Build everything for one size, printing a JSON line per stage."""
    os.environ.setdefault("SEARCHGYM_CACHE_DIR", tempfile.mkdtemp(prefix="sg-bench-"))
    from searchgym.corpus import CorpusOptions, write_corpus
    from searchgym.search.factory import make_engine
    from searchgym.tasks import TaskOptions, generate_tasks
    from searchgym.corpus.lint import corpus_violations
    from searchgym.world import build_world, load_schema
    from searchgym.world.lint import lint_world

    def report(stage: str, seconds: float, **extra) -> None:
        print(json.dumps({"stage": stage, "seconds": round(seconds, 2), "rss_mb": round(_rss_mb()),
                          "peak_mb": round(_peak_mb()), **extra}), flush=True)

    report("start", 0.0)
    schema = load_schema(os.environ.get("BENCH_SCHEMA", "default"))
    t = time.perf_counter()
    world = build_world(schema, size, seed)
    report("world", time.perf_counter() - t, entities=len(world.entities), edges=len(world.edges))
    t = time.perf_counter()
    lint_world(world)  # every build lints (searchgym.bundle): the world linter checks every edge
    report("lint_world", time.perf_counter() - t)
    t = time.perf_counter()
    corpus = write_corpus(world, CorpusOptions(passage_words=passage_words))
    report("corpus", time.perf_counter() - t, passages=len(corpus.passages),
           words=sum(len(p.text.split()) for p in corpus.passages[:10000]) * len(corpus.passages) // max(1, min(10000, len(corpus.passages))))
    t = time.perf_counter()
    # a deterministic sample of FULL_LINT_PASSAGES passages beyond that size; a real build stops
    # on any violation (lint_corpus), the benchmark records them and measures on
    violations = corpus_violations(world, corpus)
    for problem in violations[:20]:
        print(problem, file=sys.stderr, flush=True)
    report("lint_corpus", time.perf_counter() - t, violations=len(violations))
    t = time.perf_counter()
    tasks = generate_tasks(world, corpus, TaskOptions(per_type=tasks_per_type))
    report("tasks", time.perf_counter() - t, tasks=len(tasks))
    t = time.perf_counter()
    engine = make_engine("bm25", corpus.passages)
    report("bm25_index", time.perf_counter() - t)
    queries = [task.question for task in list(tasks)[:256]] or ["test"]
    t = time.perf_counter()
    engine.search(queries, 3)
    seconds = time.perf_counter() - t
    report("bm25_query", seconds, queries=len(queries), ms_per_query=round(1000 * seconds / len(queries), 2))


def run_size(size: int, budget: float, seed: int, tasks_per_type: int, passage_words: int = 100) -> dict:
    command = [sys.executable, __file__, "--child", str(size), "--seed", str(seed),
               "--tasks-per-type", str(tasks_per_type), "--passage-words", str(passage_words)]
    started = time.perf_counter()
    lines: list[dict] = []
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
                               env={**os.environ, "TQDM_DISABLE": "1"})
    outcome = "ok"
    try:
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            remaining = budget - (time.perf_counter() - started)
            if remaining <= 0:
                process.kill()
                outcome = "timeout"
                break
            if not selector.select(timeout=min(remaining, 5.0)):
                if process.poll() is not None:
                    break
                continue
            line = process.stdout.readline()
            if not line:
                break
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    finally:
        code = process.wait()
    if outcome == "ok" and code != 0:
        outcome = "killed (OOM?)" if code in (-9, 137) else f"exit {code}"
    done = [entry["stage"] for entry in lines]
    broke_at = next((s for s in STAGES if s not in done), None) if outcome != "ok" else None
    return {"size": size, "outcome": outcome, "broke_at": broke_at, "stages": lines,
            "wall_s": round(time.perf_counter() - started, 1)}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as handle:
        mem_kb = int(next(line.split()[1] for line in handle if line.startswith("MemTotal")))
    return (f"{cpu}; {os.cpu_count()} logical CPUs visible (shared); {mem_kb / 2**20:.1f} GiB RAM; "
            f"Python {platform.python_version()}; {platform.system()} {platform.release()}")


def markdown(results: list[dict], budget: float, passage_words: int = 100) -> str:
    out = ["# Large-world build benchmark", "",
           f"Machine: {machine()}.", "",
           f"Command: `python benchmarks/bench_large_world.py --sizes {' '.join(str(r['size']) for r in results)} "
           f"--budget {int(budget)} --passage-words {passage_words}` (each size in a fresh process; budget {int(budget)} s per size).", "",
           "| entities | stage | stage time (s) | RSS after (MB) | peak RSS so far (MB) | notes |",
           "|---:|---|---:|---:|---:|---|"]
    for result in results:
        for entry in result["stages"]:
            if entry["stage"] == "start":
                continue
            notes = ", ".join(f"{k}={v}" for k, v in entry.items()
                              if k not in ("stage", "seconds", "rss_mb", "peak_mb"))
            out.append(f"| {result['size']:,} | {entry['stage']} | {entry['seconds']} | {entry['rss_mb']} | "
                       f"{entry['peak_mb']} | {notes} |")
        if result["outcome"] != "ok":
            out.append(f"| {result['size']:,} | **{result['broke_at']}** | - | - | - | "
                       f"**did not finish: {result['outcome']} after {result['wall_s']} s** |")
    out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks-per-type", type=int, default=200)
    parser.add_argument("--output", type=Path, default=None, help="write a markdown table here")
    parser.add_argument("--json", type=Path, default=None, help="write raw results here")
    parser.add_argument("--passage-words", type=int, default=100,
                        help="words per passage (default 100; smaller gives more, shorter passages)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.seed, args.tasks_per_type, args.passage_words)
        return
    results = []
    for size in args.sizes:
        result = run_size(size, args.budget, args.seed, args.tasks_per_type, args.passage_words)
        print(json.dumps(result), flush=True)
        results.append(result)
        if result["outcome"] != "ok":
            break  # larger sizes would break too
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    text = markdown(results, args.budget, args.passage_words)
    if args.output:
        args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
