"""Did a ``train_curriculum.py`` run teach anything? Warm start vs the end, paired, and why.

Reads a run folder (``metrics.jsonl``, ``config.json``, ``eval/step-*.json``) and reports:

* validation EM and F1 of the first evaluation (right after the warm start) and the last one,
  each with its 95% interval (Wilson for EM), and their paired difference on the *same* tasks
  with a 95% paired-bootstrap interval (:func:`searchgym.compare.compare_reports`), plus how
  many tasks flipped each way;
* the training signal: the share of GRPO groups whose rollouts all earned the same reward (a
  zero-variance group has zero advantage and teaches nothing), the share of steps with no
  signal at all, and the mean train reward and EM over the first and the last ``--window`` steps;
* why the wrong answers are wrong: how many had every gold evidence passage retrieved (the
  policy read the answer and did not copy it) and how many never answered;
* wall time per step (median and total) from the logged step durations.

Why a script and not prose: every figure in ``baselines/README.md`` has to come from a script
that a reader can re-run on the committed ``metrics.jsonl`` and evaluation reports::

    python baselines/run_summary.py baselines/results/train_smollm2_1hop --output summary.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from searchgym.compare import compare_reports, load_episodes
from searchgym.stats import wilson_interval
from searchgym.training import read_metrics


def evaluation_files(run: Path) -> list[Path]:
    files = sorted((run / "eval").glob("step-*.json"))
    if len(files) < 2:
        raise SystemExit(f"{run}: need at least two evaluations in {run / 'eval'} (found {len(files)})")
    return files


def _em_with_interval(path: Path) -> dict[str, Any]:
    (episodes,) = load_episodes(path).values()
    hits = sum(float(e["em"]) >= 1.0 for e in episodes.values())
    low, high = wilson_interval(hits, len(episodes))
    wrong = [e for e in episodes.values() if float(e["em"]) < 1.0]
    return {"file": path.name, "tasks": len(episodes), "em": hits / max(1, len(episodes)), "em_ci": [low, high],
            "f1": float(np.mean([float(e["f1"]) for e in episodes.values()])) if episodes else 0.0,
            # Why the wrong ones are wrong: the stating passage was retrieved (a reading failure)
            # or not (a search failure), or the episode never answered.
            "wrong": len(wrong),
            "wrong_with_all_evidence": sum(float(e.get("evidence_recall", 0)) >= 1.0 for e in wrong),
            "unanswered": sum(not e.get("answered", True) for e in wrong),
            # A policy that learns the train tasks' answer types rather than reading shows up as
            # a drift towards one answer shape (here: numbers) whatever the question asks.
            "numeric_predictions": sum(str(e.get("prediction") or "").strip().isdigit() for e in episodes.values())}


def _flips(first: Path, last: Path) -> dict[str, int]:
    (before,), (after,) = load_episodes(first).values(), load_episodes(last).values()
    common = sorted(set(before) & set(after))
    won = sum(after[k]["em"] >= 1.0 > before[k]["em"] for k in common)
    lost = sum(before[k]["em"] >= 1.0 > after[k]["em"] for k in common)
    return {"gained": won, "lost": lost, "unchanged": len(common) - won - lost}


def training_signal(rows: list[dict[str, Any]], window: int) -> dict[str, Any]:
    train = [r for r in rows if r.get("kind") == "train"]
    if not train:
        return {"steps": 0}
    groups = sum(int(r.get("groups", 0)) for r in train)
    signal = sum(int(r.get("signal_groups", 0)) for r in train)
    seconds = [float(r["seconds"]) for r in train if "seconds" in r]
    head, tail = train[:window], train[-window:]
    return {
        "steps": len(train), "first_step": train[0]["step"], "last_step": train[-1]["step"],
        "groups": groups, "zero_variance_groups": groups - signal,
        "zero_variance_share": (groups - signal) / groups if groups else None,
        "steps_without_signal": sum(int(r.get("signal_groups", 0)) == 0 for r in train),
        "window": window,
        "reward_first": float(np.mean([r["reward"] for r in head])), "reward_last": float(np.mean([r["reward"] for r in tail])),
        "em_first": float(np.mean([r["em"] for r in head])), "em_last": float(np.mean([r["em"] for r in tail])),
        "seconds_per_step_median": float(np.median(seconds)) if seconds else None,
        "train_seconds_total": float(np.sum(seconds)) if seconds else None,
    }


def summarize(run: Path, window: int = 20) -> dict[str, Any]:
    files = evaluation_files(run)
    first, last = files[0], files[-1]
    comparison = compare_reports(last, first)
    return {"run": str(run), "warm_start": _em_with_interval(first), "final": _em_with_interval(last),
            "evaluations": [_em_with_interval(path) for path in files],
            "paired": {"em": comparison["em"], "f1": comparison["f1"], "tasks": comparison["paired_tasks"],
                       **_flips(first, last)},
            "training": training_signal(read_metrics(run / "metrics.jsonl"), window),
            # From the reports themselves: a resumed run's metrics may lack an evaluation row.
            "validation_seconds_total": sum(_report_seconds(path) for path in files)}


def _report_seconds(path: Path) -> float:
    seconds = json.loads(path.read_text(encoding="utf-8")).get("seconds") or {}
    return float(sum(seconds.values())) if isinstance(seconds, dict) else float(seconds)


def render(summary: dict[str, Any]) -> str:
    warm, final, paired, train = summary["warm_start"], summary["final"], summary["paired"], summary["training"]
    em = paired["em"]
    lines = [
        (f"validation EM after warm start ({warm['file']}): {warm['em']:.3f} "
        f"[{warm['em_ci'][0]:.3f}, {warm['em_ci'][1]:.3f}] on {warm['tasks']} tasks, F1 {warm['f1']:.3f}"),
        (f"validation EM at the end ({final['file']}): {final['em']:.3f} "
        f"[{final['em_ci'][0]:.3f}, {final['em_ci'][1]:.3f}] on {final['tasks']} tasks, F1 {final['f1']:.3f}"),
        (f"paired difference (end - warm start) on {paired['tasks']} tasks: EM {em['difference']:+.3f} "
        f"[{em['low']:+.3f}, {em['high']:+.3f}] ({'significant' if em['significant'] else 'not significant'}), "
        f"F1 {paired['f1']['difference']:+.3f} [{paired['f1']['low']:+.3f}, {paired['f1']['high']:+.3f}]; "
        f"{paired['gained']} tasks gained, {paired['lost']} lost"),
    ]
    for name, row in (("warm start", warm), ("end", final)):
        lines.append(f"wrong answers at the {name}: {row['wrong']}, of which {row['wrong_with_all_evidence']} had all "
                     f"gold evidence retrieved and {row['unanswered']} never answered; "
                     f"{row['numeric_predictions']}/{row['tasks']} predictions are a bare number")
    if train.get("steps"):
        lines.append(
            f"training: {train['steps']} steps, {train['zero_variance_groups']}/{train['groups']} groups with zero "
            f"reward variance ({train['zero_variance_share']:.1%}), {train['steps_without_signal']} steps without "
            f"signal; train reward {train['reward_first']:.3f} -> {train['reward_last']:.3f} and train EM "
            f"{train['em_first']:.3f} -> {train['em_last']:.3f} (first vs last {train['window']} steps); "
            f"{train['seconds_per_step_median']:.1f} s per step (median), {train['train_seconds_total'] / 60:.1f} min "
            f"of steps + {summary['validation_seconds_total'] / 60:.1f} min of validation")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a train_curriculum.py --out folder")
    parser.add_argument("--window", type=int, default=20, help="steps averaged at the start and at the end")
    parser.add_argument("--output", type=Path, help="also write the summary as JSON")
    args = parser.parse_args(argv)
    summary = summarize(args.run, args.window)
    print(render(summary))
    if args.output is not None:
        args.output.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


if __name__ == "__main__":
    sys.exit(main() and 0)
