"""The leaderboard as a Markdown table (GitHub-flavoured), one section per env and split."""

from __future__ import annotations

from typing import Any

__all__ = ["leaderboard_markdown"]


def _ci(row: dict[str, Any], key: str) -> str:
    low, high = row.get(f"{key}_ci") or (row[key], row[key])
    return f"{row[key]:.3f} [{low:.3f}, {high:.3f}]"


def leaderboard_markdown(model: dict[str, Any]) -> str:
    """Rank, agent, EM and F1 with 95% intervals, searches, measured depth, evidence recall."""
    lines: list[str] = []
    for group in model["groups"]:
        lines += [
            f"### {group}",
            "",
            "| rank | agent | episodes | EM [95% CI] | F1 [95% CI] | searches | min searches | evidence recall |",
            "|---:|---|---:|---|---|---:|---:|---:|",
        ]
        for row in (r for r in model["rows"] if r["group"] == group):
            label = row["label"].replace("|", "\\|")
            lines.append(
                f"| {row['rank']} | {label} | {row['episodes']} | {_ci(row, 'em')} | {_ci(row, 'f1')} | "
                f"{row['searches']:.2f} | {row['min_searches']:.2f} | {row['evidence_recall']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)
