"""Grouped bar charts with 95% interval whiskers, as inline SVG (no plotting library, no JS).

Why SVG from Python: the page must stay one self-contained file that renders the same in any
browser, offline; each bar carries a ``<title>`` (value, interval, n) that browsers show on hover.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["PALETTE", "grouped_bars"]

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
_HEIGHT, _TOP, _BOTTOM, _LEFT, _RIGHT = 260, 34, 58, 46, 12


def grouped_bars(
    title: str,
    categories: list[str],
    series: list[tuple[str, dict[str, dict[str, Any]]]],
    *,
    metric: str = "em",
    axis_label: str = "EM",
) -> str:
    """One group of bars per category, one bar per series (an agent), whiskers at ``{metric}_ci``."""
    bar = 14 if len(series) <= 4 else 9
    longest = max((len(c) for c in categories), default=0)
    group_width = max(bar * max(1, len(series)) + 22, 7 * longest + 12)  # labels never overlap
    legend_width = _LEFT + sum(22 + 7 * len(label) for label, _ in series)
    width = max(420, legend_width, _LEFT + 8 * len(title), _LEFT + _RIGHT + group_width * max(1, len(categories)))
    plot_height = _HEIGHT - _TOP - _BOTTOM

    def y(value: float) -> float:
        return _TOP + plot_height * (1.0 - max(0.0, min(1.0, value)))

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_HEIGHT}" '
        f'viewBox="0 0 {width} {_HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{_LEFT}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>'
            f'<text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" class="tick" text-anchor="end">{tick:.2f}</text>'
        )
    parts.append(
        f'<text x="12" y="{_TOP + plot_height / 2:.0f}" class="tick" '
        f'transform="rotate(-90 12 {_TOP + plot_height / 2:.0f})" '
        f'text-anchor="middle">{escape(axis_label)}</text>'
    )
    for c, category in enumerate(categories):
        x0 = _LEFT + c * group_width + (group_width - bar * len(series)) / 2
        for s, (label, rows) in enumerate(series):
            row = rows.get(category)
            if row is None:
                continue
            value = float(row[metric])
            low, high = row.get(f"{metric}_ci") or (value, value)
            x = x0 + s * bar
            tip = f"{label}, {category}: {axis_label} {value:.3f} [{low:.3f}, {high:.3f}], n={row.get('episodes')}"
            parts.append(
                f'<g class="bar"><title>{escape(tip)}</title>'
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar - 2}" height="{y(0) - y(value):.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"/>'
                f'<line x1="{x + (bar - 2) / 2:.1f}" x2="{x + (bar - 2) / 2:.1f}" y1="{y(high):.1f}" '
                f'y2="{y(low):.1f}" class="whisker"/></g>'
            )
        center = x0 + bar * len(series) / 2
        parts.append(
            f'<text x="{center:.1f}" y="{_HEIGHT - _BOTTOM + 16}" class="tick" text-anchor="middle">'
            f"{escape(category)}</text>"
        )
    legend_y = _HEIGHT - 18
    x = _LEFT
    for s, (label, _) in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{legend_y}" class="tick">{escape(label)}</text>'
        )
        x += 22 + 7 * len(label)
    parts.append("</svg>")
    return "".join(parts)
