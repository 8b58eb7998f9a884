"""Results files -> the report's model: leaderboard rows, breakdowns and episodes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from searchgym.evaluation import load_report, report_trajectories_path
from searchgym.trajectories import read_trajectories

__all__ = ["collect_runs"]

_ROW_KEYS = (
    "episodes",
    "em",
    "em_ci",
    "f1",
    "f1_ci",
    "searches",
    "min_searches",
    "turns",
    "evidence_recall",
    "invalid",
)


def _episode_view(episode: dict[str, Any], label: str, index: int) -> dict[str, Any]:
    """An episode of a results file without a trajectory: the summary fields only."""
    return {
        "id": index,
        "label": label,
        "agent": episode["agent"],
        "task_key": episode["task_key"],
        "result": episode,
        "task": None,
        "steps": None,
    }


def collect_runs(paths: list[str | Path]) -> dict[str, Any]:
    """Read results files into ``{"groups": [...], "rows": [...], "episodes": [...], "runs": [...]}``.

    A group is an (env, split) pair: agents are ranked within it, never across envs or splits.
    A row's ``label`` is its agent's name, suffixed with the run's file name when the same agent
    name appears in several runs. ``ValueError`` (with the path) for a file that is not a results file.
    """
    reports = [(Path(path), load_report(path)) for path in paths]
    names = Counter(agent for _, report in reports for agent in report["agents"])
    rows: list[dict[str, Any]] = []
    episodes: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for path, report in reports:
        group = f"{report.get('env', '?')} · {report.get('split', '?')}"
        trajectories_file = report_trajectories_path(report, path)
        by_agent: dict[str, dict[str, dict[str, Any]]] = {}
        if trajectories_file is not None and trajectories_file.exists():
            for read in read_trajectories(trajectories_file):
                by_agent.setdefault(read["agent"], {})[read["task_key"]] = read
        runs.append(
            {
                "file": str(path),
                "env": report.get("env"),
                "split": report.get("split"),
                "episodes": report.get("episodes"),
                "seed": report.get("seed"),
                "created": report.get("created"),
                "world_id": report.get("world_id"),
                "command": report.get("command"),
                "trajectories": bool(by_agent),
            }
        )
        for agent, data in report["agents"].items():
            label = agent if names[agent] == 1 else f"{agent} · {path.stem}"
            overall = data["by_task_type"]["all"]
            rows.append(
                {
                    "group": group,
                    "label": label,
                    "agent": agent,
                    "file": str(path),
                    **{key: overall.get(key) for key in _ROW_KEYS},
                    "by_task_type": {k: v for k, v in data["by_task_type"].items() if k != "all"},
                    "by_depth": {k: v for k, v in data.get("by_depth", {}).items() if k != "all"},
                }
            )
            recorded = by_agent.get(agent, {})
            for episode in data["episodes"]:
                trajectory = recorded.get(episode["task_key"])
                if trajectory is None:
                    episodes.append(_episode_view(episode, label, len(episodes)))
                else:
                    episodes.append(
                        {
                            "id": len(episodes),
                            "label": label,
                            "agent": agent,
                            "task_key": episode["task_key"],
                            "result": episode,
                            "task": trajectory["task"],
                            "steps": trajectory["steps"],
                            "seconds": trajectory.get("seconds"),
                        }
                    )
    groups = sorted({row["group"] for row in rows})
    for group in groups:
        ranked = sorted((r for r in rows if r["group"] == group), key=lambda r: (-(r["em"] or 0), -(r["f1"] or 0)))
        for rank, row in enumerate(ranked, start=1):
            row["rank"] = rank
    rows.sort(key=lambda r: (r["group"], r["rank"]))
    return {"groups": groups, "rows": rows, "episodes": episodes, "runs": runs}
