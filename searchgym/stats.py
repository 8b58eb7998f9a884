"""Confidence intervals for benchmark numbers: Wilson for exact match, bootstrap for the rest.

A leaderboard without intervals invites reading noise as progress: on 153 tasks a binomial
standard error is about 0.04, so a 0.1 EM gap can be chance. Every interval here is 95% and
deterministic (the bootstrap is seeded), so re-running an evaluation reproduces its report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["Z95", "bootstrap_mean_ci", "paired_bootstrap", "wilson_interval"]

Z95 = 1.959963984540054
_RESAMPLES = 2000
_SEED = 20261201


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (well behaved at 0, 1 and small n)."""
    if n <= 0:
        return 0.0, 0.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, resamples: int = _RESAMPLES, seed: int = _SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return 0.0, 0.0
    if data.size == 1 or np.all(data == data[0]):
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def paired_bootstrap(
    first: Sequence[float], second: Sequence[float], resamples: int = _RESAMPLES, seed: int = _SEED
) -> dict[str, float | bool]:
    """Mean of ``first - second`` over paired items, its 95% interval, and whether it excludes 0.

    Pairs are resampled together (the same task for both systems), which is what makes a
    difference between two agents on one task set far tighter than two independent intervals.
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} vs {b.size}")
    diff = a - b
    if diff.size == 0:
        return {"difference": 0.0, "low": 0.0, "high": 0.0, "significant": False, "n": 0}
    low, high = bootstrap_mean_ci(diff, resamples, seed)
    return {
        "difference": float(diff.mean()),
        "low": low,
        "high": high,
        "significant": bool(low > 0 or high < 0),
        "n": int(diff.size),
    }
