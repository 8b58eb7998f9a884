"""The curves of a training run, drawn from its ``metrics.jsonl`` rows.

One quantity per panel, each on its own y-axis (stage and noise used to share one), integer
step ticks, and validation EM with its 95% interval against the warm-start level, the number a
run has to beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_training_curves"]


def _rolling(series: Sequence[float], window: int) -> np.ndarray:
    values = np.asarray(series, dtype=float)
    if len(values) == 0:
        return values
    kernel = np.ones(min(window, len(values)))
    weights = np.convolve(np.ones_like(values), kernel, "full")[: len(values)]
    return np.convolve(values, kernel, "full")[: len(values)] / weights


def plot_training_curves(
    rows: Sequence[dict[str, Any]], path: str | Path, *, title: str = "", window: int = 10
) -> Path:
    """Draw the train/eval/warm-start rows into a PNG at ``path`` (returned)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    train = [r for r in rows if r.get("kind") == "train"]
    evals = [r for r in rows if r.get("kind") == "eval"]
    warm = [r for r in rows if r.get("kind") == "warm_start"]
    steps = [r["step"] for r in train]
    fig, axes = plt.subplots(2, 4, figsize=(18, 7.5))
    axes = axes.ravel()

    def series(ax: Any, key: str, label: str, smooth: bool = True) -> None:
        values = [r.get(key, np.nan) for r in train]
        ax.plot(steps, values, ".", alpha=0.35, label=f"{label} (per step)")
        if smooth and values:
            ax.plot(steps, _rolling(values, window), "-", label=f"{label} ({window}-step mean)")

    series(axes[0], "reward", "reward")
    axes[0].set_title("train reward (shaped)")
    series(axes[1], "em", "train EM")
    if evals:
        x = [r["step"] for r in evals]
        y = np.array([r["em"] for r in evals])
        low = np.array([r.get("em_ci", [v, v])[0] for r, v in zip(evals, y)])
        high = np.array([r.get("em_ci", [v, v])[1] for r, v in zip(evals, y)])
        axes[1].errorbar(
            x,
            y,
            yerr=[y - low, high - y],
            fmt="o-",
            color="black",
            capsize=3,
            label=f"validation EM, greedy ({evals[0].get('episodes', '?')} tasks, 95% CI)",
        )
        axes[1].axhline(y[0], color="grey", linestyle="--", label=f"warm-start level {y[0]:.3f}")
    axes[1].set_title("exact match")
    series(axes[2], "searches", "searches / episode")
    series(axes[2], "invalid", "invalid actions / episode")
    axes[2].set_title("actions")
    series(axes[3], "loss", "loss", smooth=False)
    axes[3].set_title("policy-gradient loss")
    series(axes[4], "grad_norm", "grad norm (before clipping)", smooth=False)
    axes[4].set_title("gradient norm")
    axes[5].step(steps, [r.get("stage", 0) for r in train], where="post")
    axes[5].set_title("curriculum stage (tasks drawn from)")
    axes[5].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[6].plot(steps, [r.get("noise_prob", 0.0) for r in train], "-")
    axes[6].set_title("search noise probability")
    axes[6].set_ylim(bottom=0)
    losses = warm[-1]["loss_per_epoch"] if warm else []
    axes[7].plot(range(1, len(losses) + 1), losses, "o-")
    axes[7].set_title("warm-start (behaviour cloning) loss")
    axes[7].set_xlabel("epoch")
    for index, ax in enumerate(axes):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if index < 7:
            ax.set_xlabel("RL step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
