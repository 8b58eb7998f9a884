"""The report as one self-contained HTML page: leaderboard, plots, trajectory viewer.

Everything is inline: the data as a JSON ``<script>`` block (``</`` escaped so no text in it can
close the tag), ``report.css`` and ``viewer.js`` from this package, and SVG plots. The viewer
builds its DOM with ``textContent`` only, so an agent's action or a document containing HTML is
shown as text, never run.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from searchgym.cache import atomic_write_text
from searchgym.report.svg import grouped_bars

__all__ = ["render_html", "write_html"]

_ASSETS = Path(__file__).parent


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ci(row: dict[str, Any], key: str) -> str:
    low, high = row.get(f"{key}_ci") or (row[key], row[key])
    return f'{_num(row[key])} <span class="ci">[{_num(low, 2)}, {_num(high, 2)}]</span>'


def _leaderboard(model: dict[str, Any]) -> str:
    header = (
        "<tr><th>rank</th><th>agent</th><th>episodes</th><th>EM [95% CI]</th><th>F1 [95% CI]</th>"
        "<th>searches</th><th>min searches</th><th>evidence recall</th><th>invalid / ep.</th></tr>"
    )
    sections = []
    for group in model["groups"]:
        body = "".join(
            f'<tr data-label="{escape(row["label"])}"><td>{row["rank"]}</td><td>{escape(row["label"])}</td>'
            f"<td>{row['episodes']}</td><td>{_ci(row, 'em')}</td><td>{_ci(row, 'f1')}</td>"
            f"<td>{_num(row['searches'], 2)}</td><td>{_num(row['min_searches'], 2)}</td>"
            f"<td>{_num(row['evidence_recall'])}</td><td>{_num(row['invalid'], 2)}</td></tr>"
            for row in model["rows"]
            if row["group"] == group
        )
        sections.append(
            f'<h3>{escape(group)}</h3><table class="leaderboard"><thead>{header}</thead><tbody>{body}</tbody></table>'
        )
    return "".join(sections)


def _depth_order(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (10**9, name)


def _plots(model: dict[str, Any]) -> str:
    charts = []
    for group in model["groups"]:
        rows = [row for row in model["rows"] if row["group"] == group]
        types = sorted({t for row in rows for t in row["by_task_type"]})
        depths = sorted({d for row in rows for d in row["by_depth"]}, key=_depth_order)
        charts.append(
            grouped_bars(
                f"{group}: EM by task type (95% CI)", types, [(row["label"], row["by_task_type"]) for row in rows]
            )
        )
        charts.append(
            grouped_bars(
                f"{group}: EM by measured depth, min searches (95% CI)",
                depths,
                [(row["label"], row["by_depth"]) for row in rows],
            )
        )
    return "".join(f"<figure>{chart}</figure>" for chart in charts)


def _runs(model: dict[str, Any]) -> str:
    items = []
    for run in model["runs"]:
        saved = "with trajectories" if run["trajectories"] else "no trajectories (run eval with --save-trajectories)"
        command = f" — <code>{escape(run['command'])}</code>" if run.get("command") else ""
        items.append(
            f"<li><code>{escape(run['file'])}</code>: {escape(str(run['env']))}, split "
            f"{escape(str(run['split']))}, {run['episodes']} episodes, seed {run['seed']}, "
            f"{escape(str(run['created']))}, {saved}{command}</li>"
        )
    return f'<ul class="runs">{"".join(items)}</ul>'


def render_html(model: dict[str, Any], title: str = "searchgym report") -> str:
    data = json.dumps(
        {"episodes": model["episodes"], "labels": [row["label"] for row in model["rows"]]}, ensure_ascii=False
    ).replace("</", "<\\/")
    css = (_ASSETS / "report.css").read_text(encoding="utf-8")
    script = (_ASSETS / "viewer.js").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{css}</style></head>
<body>
<header><h1>{escape(title)}</h1>{_runs(model)}</header>
<section id="leaderboard"><h2>Leaderboard</h2>
<p class="note">Ranked by EM within each env and split. Intervals: Wilson (EM) and bootstrap (F1), 95%.
"min searches" is the tasks' measured depth: the fewest searches a knowledge-free agent needs.</p>
{_leaderboard(model)}</section>
<section id="plots"><h2>EM by task type and by measured depth</h2>{_plots(model)}</section>
<section id="viewer"><h2>Episodes</h2>
<div class="filters">
<label>agent <select id="filter-agent"><option value="">all</option></select></label>
<label>task type <select id="filter-type"><option value="">all</option></select></label>
<label>outcome <select id="filter-outcome"><option value="">all</option><option value="failures">failures</option>
<option value="successes">successes</option></select></label>
<label>search <input id="filter-text" type="search" placeholder="task key or question"></label>
<span id="episode-count"></span></div>
<div class="viewer"><div class="list"><table id="episode-list"><thead><tr><th>agent</th><th>task key</th>
<th>type</th><th>hops</th><th>depth</th><th>EM</th><th>F1</th><th>prediction</th></tr></thead><tbody></tbody></table></div>
<div id="episode-detail" class="detail"><p class="note">Open an episode to see its searches, the retrieved passages
(gold evidence highlighted) and why it failed.</p></div></div></section>
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script>
</body></html>
"""


def write_html(model: dict[str, Any], out_dir: str | Path, title: str = "searchgym report") -> Path:
    """Write ``out_dir/index.html``; returns its path."""
    path = Path(out_dir) / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_html(model, title))
    return path
