"""The results tables ``searchgym eval`` prints: by task type, by hop count, by measured depth.

Readable at 80 columns: no vertical rules, one space between columns, EM and its interval in
separate columns, and the group column never wrapped or cut ("bridge_comparison" is the longest
task type). F1 intervals are in the JSON report; ``searchgym report`` shows them.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["GROUPINGS", "compact_table", "render_tables"]

GROUPINGS = (("by_task_type", "task type"), ("by_hops", "hops"), ("by_depth", "min searches"), ("by_tier", "tier"))
COLUMNS = (
    ("n", "episodes"),
    ("EM", "exact match"),
    ("95% CI", "Wilson interval of EM"),
    ("F1", "token F1"),
    ("srch", "mean searches"),
    ("min", "mean measured depth of the tasks"),
    ("turns", "mean turns"),
    ("recall", "evidence recall"),
)


def compact_table(title: str, columns: list[str], left: int, wrap: tuple[str, ...] = ()) -> Table:
    """A table without vertical rules or edges, one space between columns. The first ``left``
    columns are left-aligned text, the others right-aligned numbers; only ``wrap`` columns wrap."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(
            column, justify="left" if index < left or column in wrap else "right", no_wrap=column not in wrap
        )
    return table


def render_tables(report: dict[str, Any], console: Console) -> None:
    """Print one table per grouping; "min" is the tasks' mean measured depth (the fewest searches
    a knowledge-free agent needs), beside each agent's own mean number of searches ("srch")."""
    for grouping, title in GROUPINGS:
        if not any(grouping in data for data in report["agents"].values()):
            continue
        table = compact_table(
            f"{report['env']} ({report.get('split', '?')}): results by {title}, {report['episodes']} episodes",
            ["agent", title, *(c for c, _ in COLUMNS)],
            2,
        )
        for agent, data in report["agents"].items():
            for group, row in data.get(grouping, {}).items():
                low, high = row.get("em_ci", (row["em"], row["em"]))
                table.add_row(
                    agent,
                    group,
                    str(row["episodes"]),
                    f"{row['em']:.3f}",
                    f"{low:.2f}-{high:.2f}",
                    f"{row['f1']:.3f}",
                    f"{row['searches']:.2f}",
                    f"{row.get('min_searches', 0):.2f}",
                    f"{row['turns']:.2f}",
                    f"{row['evidence_recall']:.3f}",
                )
            table.add_section()
        console.print(table)
