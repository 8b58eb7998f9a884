"""Rich tables for an audit report (what ``searchgym audit`` prints)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["render_audit"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "—" if value is None else str(value)


def _render_tiers(env: str, split: str, tiers: dict[str, Any], console: Console) -> None:
    if not tiers:
        return
    table = Table(title=f"{env} · {split} split — per difficulty tier (re-measured)")
    for column in (
        "tier",
        "n",
        "least min_searches",
        "mean min_searches",
        "lower bounds",
        "mean constraints",
        "label holds",
    ):
        table.add_column(column, justify="left" if column == "lower bounds" else "right")
    for label, row in tiers.items():
        bounds = " ".join(f"{k}:{v}" for k, v in row["lower_bound"].items())
        table.add_row(
            label,
            str(row["tasks"]),
            _fmt(row["min_searches_least"]),
            _fmt(row["min_searches_mean"]),
            bounds,
            _fmt(row["constraints_mean"]),
            _fmt(row["label_held"]),
        )
    console.print(table)


def render_audit(report: dict[str, Any], console: Console) -> None:
    for split, data in report["splits"].items():
        depth = Table(
            title=f"{report['env']} · {split} split — measured min_searches per stratum "
            f"({data['engine']}, top_k={data['top_k']}, {data['tasks']} tasks)"
        )
        values = sorted(
            {k for counts in data["depth"]["min_searches"].values() for k in counts},
            key=lambda k: (k == "None", int(k) if k != "None" else 0),
        )
        depth.add_column("type/hops")
        depth.add_column("n", justify="right")
        for value in values:
            depth.add_column("unreachable" if value == "None" else f"{value}", justify="right")
        for stratum, counts in data["depth"]["min_searches"].items():
            depth.add_row(stratum, str(sum(counts.values())), *(str(counts.get(v, "")) for v in values))
        console.print(depth)
        _render_tiers(report["env"], split, data.get("tiers", {}), console)
        targets = Table(title=f"{report['env']} · {split} split — audit targets")
        for column in ("target", "value", "bound", ""):
            targets.add_column(column, justify="left" if column == "target" else "right")
        for row in data["targets"]:
            targets.add_row(
                row["description"],
                _fmt(row["value"]),
                row["bound"],
                "[green]pass[/green]" if row["passed"] else "[red]FAIL[/red]",
            )
        console.print(targets)
        solves = data["shortcuts"]["question_search_solves_by_type"]
        console.print(
            "one question-text search retrieves all evidence: " + ", ".join(f"{k} {v:.2f}" for k, v in solves.items())
        )
        if data["depth"].get("plans_opening_a_page"):
            console.print(
                f"minimal plans that open a page (<access>): {data['depth']['plans_opening_a_page']} "
                f"of {data['tasks']} tasks"
            )
        if data["depth"]["inexact"]:
            console.print(
                f"{data['depth']['inexact']} depths are upper bounds (IDA* budget); "
                f"largest gap to their lower bound: {data['depth']['worst_bound_gap']}"
            )
    verdict = "[green]every target met[/green]" if report["passed"] else "[red]some targets are not met[/red]"
    console.print(f"audit of {report['env']}: {verdict}")
