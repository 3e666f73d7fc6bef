"""Summaries over seeds: mean and a 95% Student-t interval."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import stdtrit  # t quantiles; scipy.stats takes twice as long to import


def mean_ci95(values, bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict:
    """Mean, sample standard deviation and 95% t-interval of the mean (no interval for one value).

    The interval is clipped to bounds, the range the metric can take (an accuracy stays in [0, 1]).
    """
    values = np.asarray(list(values), dtype=float)
    n = len(values)
    mean = float(values.mean())
    if n < 2:
        return {"mean": mean, "std": None, "low": None, "high": None, "n": n}
    std = float(values.std(ddof=1))
    half = float(stdtrit(n - 1, 0.975) * std / math.sqrt(n))
    low, high = max(mean - half, bounds[0]), min(mean + half, bounds[1])
    return {"mean": mean, "std": std, "low": low, "high": high, "n": n}
