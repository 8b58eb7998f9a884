"""Env throughput: one SearchQAEnv vs Gymnasium's SyncVectorEnv vs BatchedSearchQAVectorEnv.

The scripted agent searches ``--searches-per-episode`` times (the question, then rotations of
its words, as a multi-hop agent reformulates), then answers (a fixed wrong answer: reward does
not matter here). Both vector envs use Gymnasium's default NEXT_STEP autoreset, so with one
search one sub-env slot in three is an autoreset step (reset prompt, no action), with three
searches one in five. Throughput is counted the same way for all three:

* ``steps/s`` = sub-env transitions per second: ``num_envs x step() calls / time`` for a vector
  env, ``(step() + reset() calls) / time`` for the single env (its resets are the vector envs'
  autoreset slots);
* ``searches/s`` = search actions executed per second.

All envs of one corpus share the same engine object (searchgym's per-process engine cache), so
the comparison isolates batching: SyncVectorEnv makes one ``engine.search`` call per searching
sub-env, the batched env one call per step.

Every mode runs ``--rounds`` times, interleaved with the others, and each row is its median
round (see :func:`bench_size` for why).

``engine alone``: every batch of queries the batched env sent is recorded and then replayed
straight to ``engine.search``; its row gives the steps/s the env would reach if everything but
retrieval were free, and ``env / engine alone`` is the share of that the env keeps.

    python benchmarks/bench_env.py                 # 10k passages, 16 envs
    python benchmarks/bench_env.py --sizes 10k,100k --steps 150
    python benchmarks/bench_env.py --sizes 100k --engine dense --searches-per-episode 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, CorpusSize, env_overrides, fmt, load_bundle, parse_sizes, record_run  # noqa: E402

MODES = ("single", "sync", "batched")
WRONG_ANSWER = "<answer>I do not know</answer>"
console = Console(width=160)


@dataclass
class Row:
    size: str
    passages: int
    mode: str
    num_envs: int
    transitions: int
    searches: int
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.transitions / self.seconds

    @property
    def searches_per_s(self) -> float:
        return self.searches / self.seconds

    def cells(self, baseline: float | None) -> list[str]:
        speedup = fmt(self.steps_per_s / baseline, 2) + "x" if baseline else "n/a"
        return [self.size, f"{self.passages:,}", self.mode, str(self.num_envs), f"{self.transitions:,}",
                fmt(self.seconds, 2), fmt(self.steps_per_s), fmt(self.searches_per_s), speedup]


HEADERS = ["corpus", "passages", "env", "envs", "transitions", "seconds", "steps/s", "searches/s", "vs sync"]


def scripted_query(question: str, n: int) -> str:
    """The n-th search of an episode: the question, then the question without its first n words.

    Why vary it: a multi-hop agent reformulates rather than repeating a query, and repeated
    queries could be answered from a cache and would flatter both vector envs.
    """
    if n == 0:
        return question
    words = question.split()
    return " ".join(words[n % len(words):] + words[: n % len(words)]) if words else question


class RecordingEngine:
    """Passes searches through to ``engine`` and keeps each batch of queries, to replay them."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.name, self.batches = engine, engine.name, []

    def search(self, queries: list[str], k: int) -> Any:
        self.batches.append((list(queries), k))
        return self.engine.search(queries, k)

    def access(self, doc_id: str) -> Any:
        return self.engine.access(doc_id)

    def replay_seconds(self) -> float:
        start = time.perf_counter()
        for queries, k in self.batches:
            self.engine.search(queries, k)
        return time.perf_counter() - start


class ScriptedVectorAgent:
    """Search ``searches`` times, then answer; follows Gymnasium's vector info masks."""

    def __init__(self, num_envs: int, searches: int = 1) -> None:
        self.searches = searches
        self.questions: list[str] = [""] * num_envs
        self.searched = np.zeros(num_envs, dtype=np.int64)

    def observe(self, infos: dict[str, Any]) -> None:
        """A ``question`` in an env's info means it was (auto)reset: its next action is a search."""
        if "question" in infos:
            for i in np.flatnonzero(infos["_question"]):
                self.questions[i] = infos["question"][i]
                self.searched[i] = 0

    def act(self) -> tuple[tuple[str, ...], int]:
        actions = []
        searches = 0
        for i, question in enumerate(self.questions):
            if self.searched[i] >= self.searches:
                actions.append(WRONG_ANSWER)
            else:
                actions.append(f"<search>{scripted_query(question, int(self.searched[i]))}</search>")
                self.searched[i] += 1
                searches += 1
        return tuple(actions), searches


def run_vector(envs: Any, steps: int, seed: int, searches_per_episode: int = 1) -> tuple[int, int, float]:
    agent = ScriptedVectorAgent(envs.num_envs, searches_per_episode)
    _, infos = envs.reset(seed=seed)
    agent.observe(infos)
    searches = 0
    start = time.perf_counter()
    for _ in range(steps):
        actions, n_search = agent.act()
        _, _, terminations, truncations, infos = envs.step(actions)
        # autoreset slots: the action was ignored, so it was not a search
        searches += n_search
        agent.observe(infos)
    seconds = time.perf_counter() - start
    return envs.num_envs * steps, searches, seconds


def run_single(env: Any, transitions: int, seed: int, searches_per_episode: int = 1) -> tuple[int, int, float]:
    _, info = env.reset(seed=seed)
    question, searched, searches, done = info["question"], 0, 0, 0
    start = time.perf_counter()
    while done < transitions:
        if question is None:
            _, info = env.reset()
            question, searched = info["question"], 0
        elif searched < searches_per_episode:
            env.step(f"<search>{scripted_query(question, searched)}</search>")
            searched, searches = searched + 1, searches + 1
        else:
            env.step(WRONG_ANSWER)
            question = None
        done += 1
    return transitions, searches, time.perf_counter() - start


def bench_size(size: CorpusSize, args: argparse.Namespace) -> list[Row]:
    """Every mode ``--rounds`` times, interleaved (the first mode rotates each round), each row
    the round of median time. Why: one pass of a mode lasts 0.1-0.4 s, and on this shared
    2-core machine single passes of the same code gave batched / sync 1.81x-2.44x minutes apart;
    interleaving spreads the machine's swings over every mode alike."""
    import statistics

    import gymnasium as gym

    import searchgym  # noqa: F401
    from searchgym.envs.vector import BatchedSearchQAVectorEnv

    overrides = {**env_overrides(size), "engine": args.engine}
    start = time.perf_counter()
    load_bundle(size)
    single = gym.make("SearchQA-v0", **overrides)  # builds / loads the shared engine
    passages = len(single.unwrapped.corpus.passages)
    console.print(f"[bold]{size.label}[/]: {passages:,} passages; world + {args.engine} engine ready in "
                  f"{time.perf_counter() - start:.1f}s")
    recorder = RecordingEngine(single.unwrapped.engine)
    vector_envs: dict[str, Any] = {}
    if "sync" in args.modes:
        vector_envs["sync"] = gym.make_vec("SearchQA-v0", num_envs=args.num_envs, vectorization_mode="sync",
                                           **overrides)
    if "batched" in args.modes:
        vector_envs["batched"] = BatchedSearchQAVectorEnv(args.num_envs, engine=recorder, **env_overrides(size))
    single_transitions = args.steps * args.num_envs // 4
    run_single(single, 30, args.seed, args.searches_per_episode)  # warm-up
    for envs in vector_envs.values():
        run_vector(envs, 3, args.seed, args.searches_per_episode)

    labels = {"single": "single SearchQAEnv", "sync": "SyncVectorEnv", "batched": "BatchedSearchQAVectorEnv"}
    runs: dict[str, list[tuple[int, int, float]]] = {}
    for round_index in range(args.rounds):
        shift = round_index % len(args.modes)
        for mode in args.modes[shift:] + args.modes[:shift]:
            if mode == "single":
                runs.setdefault(mode, []).append(
                    run_single(single, single_transitions, args.seed, args.searches_per_episode))
                continue
            recorder.batches.clear()
            result = run_vector(vector_envs[mode], args.steps, args.seed, args.searches_per_episode)
            runs.setdefault(mode, []).append(result)
            if mode == "batched":
                runs.setdefault("alone", []).append((result[0], result[1], recorder.replay_seconds()))
    for envs in vector_envs.values():
        envs.close()
    rows = []
    for mode in [*args.modes, "alone"]:
        if mode not in runs:
            continue
        transitions, searches, _ = runs[mode][0]
        seconds = statistics.median(seconds for _, _, seconds in runs[mode])
        label = labels.get(mode, "engine alone (same batches)")
        rows.append(Row(size.label, passages, label, 1 if mode == "single" else args.num_envs, transitions, searches,
                        seconds))
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k", help="comma list of 10k, 100k, 1m (default: 10k)")
    parser.add_argument("--include-1m", action="store_true")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=150, help="vector step() calls per vector env (default 150)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of every mode; rows are medians (7)")
    parser.add_argument("--modes", default=",".join(MODES), type=lambda s: [m.strip() for m in s.split(",") if m.strip()])
    parser.add_argument("--engine", default="bm25", help="search engine of the envs (default bm25)")
    parser.add_argument("--searches-per-episode", type=int, default=1,
                        help="searches before the answer (default 1; multi-hop agents make 2-4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        parser.error(f"unknown mode(s) {bad}; valid: {', '.join(MODES)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    rows: list[Row] = []
    for size in parse_sizes(args.sizes, allow_1m=args.include_1m):
        rows += bench_size(size, args)
    baselines = {row.size: row.steps_per_s for row in rows if row.mode == "SyncVectorEnv"}
    table = Table(title=f"env throughput ({args.engine}, scripted agent: "
                        f"{args.searches_per_episode} search(es) then answer)")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("corpus", "env") else "right")
    cells = [row.cells(baselines.get(row.size)) for row in rows]
    for row in cells:
        table.add_row(*row)
    console.print(table)
    if not args.no_write and rows:
        verdicts = []
        for size, baseline in baselines.items():
            batched = [r for r in rows if r.size == size and r.mode == "BatchedSearchQAVectorEnv"]
            alone = [r for r in rows if r.size == size and r.mode.startswith("engine alone")]
            if batched:
                ratio = batched[0].steps_per_s / baseline
                verdicts.append(f"{size}: batched / sync = {ratio:.2f}x at {args.num_envs} envs")
            if batched and alone:
                share = batched[0].steps_per_s / alone[0].steps_per_s
                verdicts.append(f"{size}: batched env / engine alone = {share:.2f} "
                                f"({'meets' if share >= 0.9 else 'does NOT meet'} the 0.9 target)")
        notes = [
            f"engine={args.engine}; {args.searches_per_episode} search(es) then an answer per episode; "
            f"{args.steps} vector steps per vector env, median of {args.rounds} interleaved rounds; NEXT_STEP autoreset; "
            "steps/s = sub-env transitions per second (autoreset slots and single-env resets included).",
            *verdicts,
        ]
        record_run("Env steps (bench_env.py)", "bench_env.py", argv, HEADERS, cells, notes, args.results)
        console.print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
