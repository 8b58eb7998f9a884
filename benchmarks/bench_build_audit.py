"""How long building and auditing an env takes from a cold cache, stage by stage.

The honest-benchmark machinery (linting every statement, measuring every candidate task's depth
with the real engine, auditing every split) is only worth having if it stays cheap: the target is
under a minute for the default env's three split worlds on two cores. This script times, per split
world: world generation, linting, corpus writing, task generation (BM25 indexing, name searches,
candidate depth measurement, selection), then the audit of every split.

Usage::

    python benchmarks/bench_build_audit.py                       # the default env, 1,000 entities
    python benchmarks/bench_build_audit.py --world-size 100000 --splits train --tasks-per-type 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="SearchQA-v0")
    parser.add_argument("--world-size", type=int, default=None, help="override the spec's world_size")
    parser.add_argument("--tasks-per-type", type=int, default=None, help="override tasks_per_type (and eval)")
    parser.add_argument("--splits", default="train,validation,test")
    parser.add_argument("--no-audit", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="print only; do not add a RESULTS.md section")
    args = parser.parse_args()
    lines: list[str] = []

    def emit(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    os.environ["SEARCHGYM_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-build-audit-")

    from searchgym.bundle import split_world_seed
    from searchgym.corpus import write_corpus
    from searchgym.corpus.lint import lint_corpus
    from searchgym.envs.config import load_spec
    from searchgym.tasks import generate_tasks
    from searchgym.world import build_world, load_schema
    from searchgym.world.lint import lint_world

    overrides: dict[str, object] = {}
    if args.world_size:
        overrides["world_size"] = args.world_size
    if args.tasks_per_type:
        overrides.update(tasks_per_type=args.tasks_per_type, eval_tasks_per_type=args.tasks_per_type)
    splits = tuple(s for s in args.splits.split(",") if s)
    load = os.getloadavg()
    emit(f"{args.env} {overrides or ''}; load average at the start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    emit()
    emit("| split | world | lint world | corpus | lint corpus | tasks | tasks made | total |")
    emit("|---|---|---|---|---|---|---|---|")
    grand = time.perf_counter()
    schema = load_schema(load_spec(args.env).schema)
    for split in splits:
        config = load_spec(args.env).with_overrides({**overrides, "split": split})
        marks = [time.perf_counter()]
        world = build_world(schema, config.world_size, split_world_seed(config.world_seed, split))
        marks.append(time.perf_counter())
        lint_world(world)
        marks.append(time.perf_counter())
        corpus = write_corpus(world, config.corpus_options())
        marks.append(time.perf_counter())
        lint_corpus(world, corpus)
        marks.append(time.perf_counter())
        tasks = generate_tasks(world, corpus, config.task_options(), cache=None)
        marks.append(time.perf_counter())
        stages = [f"{b - a:.1f} s" for a, b in zip(marks, marks[1:])]
        emit(f"| {split} | " + " | ".join(stages) + f" | {len(tasks)} | {marks[-1] - marks[0]:.1f} s |")
    built = time.perf_counter() - grand
    emit()
    emit(f"the stages above, for {len(splits)} split world(s): {built:.1f} s")
    if not args.no_audit:
        from searchgym.audit import run_audit

        os.environ["SEARCHGYM_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-build-audit-cold-")
        start = time.perf_counter()
        report = run_audit(args.env, splits, env_kwargs=overrides)
        total = time.perf_counter() - start
        emit()
        emit(f"`searchgym audit` from a cold cache (builds every split world, its index and tasks, then audits): "
              f"{total:.1f} s; targets {'met' if report['passed'] else 'NOT met'}")
    if not args.no_record:
        append_results("Build and audit from a cold cache (bench_build_audit.py)",
                       "python benchmarks/" + " ".join([Path(__file__).name, *sys.argv[1:]]), "\n".join(lines))


if __name__ == "__main__":
    main()
