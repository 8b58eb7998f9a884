"""``searchgym compare A.json B.json``: is one agent really better than another?

Two evaluation reports (or two agents of one report) are paired by task key — the same tasks,
so per-task differences cancel the tasks' own difficulty — and the mean difference in EM and F1
gets a 95% paired-bootstrap interval (:func:`searchgym.stats.paired_bootstrap`). A difference
is called significant only when its interval excludes zero.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from searchgym.stats import paired_bootstrap
from searchgym.tables import compact_table

__all__ = ["CompareError", "compare_reports", "load_episodes", "render_comparison"]

METRICS = ("em", "f1")


class CompareError(ValueError):
    """The reports cannot be paired (no common tasks, unknown agent, not a results file)."""


def load_episodes(path: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{agent: {task_key: episode}}`` of a ``searchgym eval`` results file."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        return {agent: {e["task_key"]: e for e in data["episodes"]} for agent, data in report["agents"].items()}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CompareError(f"{path}: not a searchgym eval results file ({error})") from None


def _pick(agents: dict[str, Any], wanted: str | None, path: str | Path) -> str:
    if wanted is not None:
        if wanted not in agents:
            raise CompareError(f"{path}: no agent {wanted!r}; it has {sorted(agents)}")
        return wanted
    if len(agents) != 1:
        raise CompareError(f"{path} holds agents {sorted(agents)}; choose with --agents A,B")
    return next(iter(agents))


def compare_reports(
    first: str | Path, second: str | Path, agents: tuple[str | None, str | None] = (None, None)
) -> dict[str, Any]:
    """The paired comparison of agent ``agents[0]`` of ``first`` with ``agents[1]`` of ``second``."""
    left, right = load_episodes(first), load_episodes(second)
    name_a, name_b = _pick(left, agents[0], first), _pick(right, agents[1], second)
    episodes_a, episodes_b = left[name_a], right[name_b]
    common = sorted(set(episodes_a) & set(episodes_b))
    if not common:
        raise CompareError(
            f"{name_a} ({first}) and {name_b} ({second}) share no task: compare runs of one env "
            f"and split, with the same --seed"
        )
    result: dict[str, Any] = {
        "a": {"file": str(first), "agent": name_a},
        "b": {"file": str(second), "agent": name_b},
        "paired_tasks": len(common),
        "unpaired": len(set(episodes_a) ^ set(episodes_b)),
    }
    for metric in METRICS:
        values_a = [float(episodes_a[k][metric]) for k in common]
        values_b = [float(episodes_b[k][metric]) for k in common]
        result[metric] = {
            "a": sum(values_a) / len(common),
            "b": sum(values_b) / len(common),
            **paired_bootstrap(values_a, values_b),
        }
    return result


def render_comparison(result: dict[str, Any], console: Console) -> None:
    a, b = result["a"]["agent"], result["b"]["agent"]
    table = compact_table(
        f"{a} vs {b} on {result['paired_tasks']} paired tasks (95% paired bootstrap)",
        ["metric", a, b, "difference", "95% CI", "significant"],
        1,
    )
    for metric in METRICS:
        row = result[metric]
        table.add_row(
            metric.upper(),
            f"{row['a']:.3f}",
            f"{row['b']:.3f}",
            f"{row['difference']:+.3f}",
            f"[{row['low']:+.3f}, {row['high']:+.3f}]",
            "yes" if row["significant"] else "no",
        )
    console.print(table)
    if result["unpaired"]:
        console.print(f"{result['unpaired']} task(s) ran in only one of the two reports and were left out")
