"""Cache-hit benchmark: how long a process takes to get a bundle that is already on disk.

A trainer starts many workers (Ray actors, verl rollout workers, vector-env slots), and each one
calls ``build_bundle`` for a world another process built. That call must not redo what the build
already did: hashes are read from the verified manifest, nothing is re-serialised (issue 18,
target: a 100k-entity cache hit in <= 4 s on this machine).

The script builds one bundle into a fresh cache directory (timed: the cold build), then times
``--rounds`` cache hits, each in a fresh Python process (so nothing is memoised in memory), and
reports the median and every round, with the machine's load before and after.

``--compare TREE`` runs the same hit from another source tree (an export of ``main``, say) in
the same run, interleaved round by round (odd rounds the peer first), and reports the ratio;
each tree uses its own entry of the same cache directory (a layout change changes the key).

    python benchmarks/bench_cache_hit.py --size 100000 --tasks-per-type 50 --rounds 3
    python benchmarks/bench_cache_hit.py --size 100000 --rounds 5 --cache-dir DIR --compare /tmp/main-tree
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, record_body  # noqa: E402

HIT_TARGET_S = 4.0


def _load_once(size: int, seed: int, tasks_per_type: int) -> dict:
    """Child process: one ``build_bundle`` call that must hit the cache; prints its timing."""
    started = time.perf_counter()
    from searchgym.bundle import build_bundle
    from searchgym.tasks import TaskOptions

    imported = time.perf_counter()
    bundle = build_bundle("default", size, seed, task_options=TaskOptions(per_type=tasks_per_type))
    loaded = time.perf_counter()
    return {"import_s": imported - started, "hit_s": loaded - imported, "passages": len(bundle.corpus),
            "tasks": len(bundle.tasks), "entities": len(bundle.world.entities)}


def _phases_once(size: int, seed: int, tasks_per_type: int) -> dict:
    """Child process: where a hit's time goes, phase by phase, as ``build_bundle`` loads an entry
    (``bundle._load_entry``: collector paused; then frozen where the tree's loader freezes, else
    the full collection that re-enabling leads to); the entry must exist. Runs on any tree
    (``--compare``) whose public loaders these are."""
    import gc
    import inspect

    import searchgym.bundle
    from searchgym.bundle import PASSAGES_FILE, WORLD_FILE, bundle_key
    from searchgym.cache import ArtifactCache
    from searchgym.corpus import Corpus, CorpusOptions
    from searchgym.tasks import TaskOptions, TaskSet
    from searchgym.world import load_schema
    from searchgym.world.storage import load_world_columns

    times: dict[str, float] = {}

    def timed(name: str, step):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        value = step()
        times[name] = time.perf_counter() - started
        return value

    schema = timed("parse or read the schema", lambda: load_schema("default"))
    cache = ArtifactCache()
    key = bundle_key(schema, size, seed, CorpusOptions(), TaskOptions(per_type=tasks_per_type))
    directory = timed("verify the entry's manifest", lambda: cache.load("bundles", key))
    if directory is None:
        raise SystemExit("--phases needs the bundle in the cache: run without --phases first")
    meta = cache.manifest(directory)["meta"]
    gc.disable()
    world = timed("world columns", lambda: load_world_columns(schema, directory / WORLD_FILE))
    timed("corpus columns", lambda: Corpus.load_columns(directory / PASSAGES_FILE, world.world_id,
                                                         content_hash=meta.get("content_hash")))
    timed("tasks.jsonl", lambda: TaskSet.load(directory / "tasks.jsonl", world.world_id))
    if "gc.freeze()" in inspect.getsource(searchgym.bundle):
        timed("gc.freeze + re-enable + next collection", lambda: (gc.freeze(), gc.enable(), gc.collect(0)))
    else:
        timed("re-enable + the full collection it leads to", lambda: (gc.enable(), gc.collect()))
    return times


def _entry_exists(cache_dir: str, size: int, seed: int, tasks_per_type: int) -> bool:
    """Whether the bundle is already in the cache (then the first process is a hit, not a build)."""
    from searchgym.bundle import bundle_key
    from searchgym.cache import ArtifactCache
    from searchgym.corpus import CorpusOptions
    from searchgym.tasks import TaskOptions
    from searchgym.world import load_schema

    key = bundle_key(load_schema("default"), size, seed, CorpusOptions(), TaskOptions(per_type=tasks_per_type))
    return ArtifactCache(Path(cache_dir)).entry_dir("bundles", key).is_dir()


def _child_command(args: argparse.Namespace, script: str = __file__, phases: bool = False) -> list[str]:
    return [sys.executable, script, "--child", "--size", str(args.size), "--seed", str(args.seed),
            "--tasks-per-type", str(args.tasks_per_type), *(["--phases"] if phases else [])]


def _run_child(args: argparse.Namespace, env: dict[str, str], tree: Path | None = None,
               phases: bool = False) -> dict:
    """One hit in a fresh process, of this tree or (``tree``) of another source tree."""
    if tree is not None:
        env = dict(env, PYTHONPATH=str(tree))
    if tree is not None and not phases:
        command = _child_command(args, str(tree / "benchmarks" / Path(__file__).name))
    else:  # phases: this script's probe, importing the tree's package
        command = _child_command(args, phases=phases)
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tree)
    if done.returncode:
        raise SystemExit(f"the child process failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    output = done.stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks-per-type", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", help="cache directory to use (default: a fresh temporary one); when it "
                        "already holds the bundle, the 'cold build' row times a first hit instead")
    parser.add_argument("--compare", type=Path, help="another source tree whose hit runs interleaved with ours")
    parser.add_argument("--phases", action="store_true", help="also time a hit's phases (median of the rounds)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true", help="print only; do not add a RESULTS.md section")
    args = parser.parse_args(argv)
    if args.child:
        once = _phases_once if args.phases else _load_once
        print(json.dumps(once(args.size, args.seed, args.tasks_per_type)))
        return

    env = dict(os.environ, SEARCHGYM_CACHE_DIR=args.cache_dir or tempfile.mkdtemp(prefix="sg-cache-hit-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    cached_before = _entry_exists(env["SEARCHGYM_CACHE_DIR"], args.size, args.seed, args.tasks_per_type)
    cold = _run_child(args, env)  # the first call builds (and writes) the bundle
    cold_s = time.perf_counter() - started
    if args.compare is not None:
        _run_child(args, env, args.compare)  # the peer's first hit (or build) is not a round
    hits, peer_hits = [], []
    for round_number in range(args.rounds):
        if args.compare is not None and round_number % 2 == 0:
            peer_hits.append(_run_child(args, env, args.compare))
        hits.append(_run_child(args, env))
        if args.compare is not None and round_number % 2 == 1:
            peer_hits.append(_run_child(args, env, args.compare))
    load_after = os.getloadavg()
    hit_times = [round(hit["hit_s"], 2) for hit in hits]
    median_hit = statistics.median(hit_times)
    first = "first hit (entry built by an earlier run)" if cached_before else "cold build (first process)"
    rows = [[first, f"{cold['hit_s']:.1f} s", f"{cold_s:.1f} s", "—"],
            ["cache hit, fresh process (median)", f"{median_hit:.2f} s",
             f"rounds {', '.join(f'{t:.2f}' for t in hit_times)}",
             f"<= {HIT_TARGET_S:.0f} s: {'met' if median_hit <= HIT_TARGET_S else 'not met'}"],
            ["`import searchgym` in that process (median)",
             f"{statistics.median(hit['import_s'] for hit in hits):.2f} s", "—", "—"]]
    if peer_hits:
        peer_times = [round(hit["hit_s"], 2) for hit in peer_hits]
        peer_median = statistics.median(peer_times)
        rows.append([f"peer `{args.compare}`: cache hit, fresh process (median)", f"{peer_median:.2f} s",
                     f"rounds {', '.join(f'{t:.2f}' for t in peer_times)}", "—"])
        rows.append(["this tree / peer (medians)", f"{median_hit / peer_median:.2f}",
                     f"{peer_median / median_hit:.1f}x faster" if median_hit < peer_median else "not faster", "—"])
    if args.phases:
        for label, tree in [("", None)] + ([("peer: ", args.compare)] if args.compare is not None else []):
            phased = [_run_child(args, env, tree, phases=True) for _ in range(args.rounds)]
            for name in phased[0]:
                values = [round(run[name], 3) for run in phased]
                rows.append([f"{label}phase: {name} (median)", f"{statistics.median(values):.3f} s",
                             f"rounds {', '.join(f'{v:.3f}' for v in values)}", "—"])
        load_after = os.getloadavg()
    table = markdown_table(["measurement", "build_bundle", "wall / rounds", "target"], rows)
    body = (f"World of {cold['entities']:,} entities (schema `default`, seed {args.seed}), "
            f"{cold['passages']:,} passages, {cold['tasks']:,} tasks (`tasks_per_type={args.tasks_per_type}`).\n\n"
            f"{table}\n")
    body += (f"\nLoad average (1 min): {load_before[0]:.2f} before the cold build, "
             f"{load_after[0]:.2f} after the last hit.\n")
    print(body)
    if not args.no_record:
        record_body("Cache hits (bench_cache_hit.py)", Path(__file__).name, argv, body)


if __name__ == "__main__":
    main()
