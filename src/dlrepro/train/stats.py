"""Summaries over seeds: mean and a 95% Student-t interval."""

from __future__ import annotations

import math

import numpy as np

# 97.5% quantiles of Student's t by degrees of freedom, for the usual 2 to 11 seeds (scipy's
# stdtrit, checked in tests/unit/test_engine.py): importing scipy.special would add 0.2 s to
# every training stage's start.
T975 = {1: 12.706204736174694, 2: 4.302652729749462, 3: 3.1824463052837078, 4: 2.7764451051977934,
        5: 2.5705818356363146, 6: 2.4469118511449786, 7: 2.364624251592784, 8: 2.306004135204166,
        9: 2.262157162798205, 10: 2.228138851986274}


def t975(df: int) -> float:
    if df in T975:
        return T975[df]
    from scipy.special import stdtrit

    return float(stdtrit(df, 0.975))


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
    half = t975(n - 1) * std / math.sqrt(n)
    low, high = max(mean - half, bounds[0]), min(mean + half, bounds[1])
    return {"mean": mean, "std": std, "low": low, "high": high, "n": n}
