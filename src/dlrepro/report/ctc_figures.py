"""Figures of the CTC phone recogniser (Agg, no dates, written through figures.save)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dlrepro.report.figures import save


def grouped_interval_bars(table: pd.DataFrame, metric: str, path: str | Path, title: str, ylabel: str) -> None:
    """table: one row per (variant, decoder) with <metric>, <metric>_low, <metric>_high: variants
    along x, one bar per decoder in each group, with its 95% interval and its value on top."""
    variants, decoders = list(dict.fromkeys(table["variant"])), list(dict.fromkeys(table["decoder"]))
    width = 0.8 / len(decoders)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(variants) + 2), 3.8))
    x = np.arange(len(variants))
    for j, d in enumerate(decoders):
        rows = table[table["decoder"] == d].set_index("variant").reindex(variants)
        mean = rows[metric].to_numpy(float)
        low = rows[f"{metric}_low"].astype(float).fillna(rows[metric]).to_numpy(float)
        high = rows[f"{metric}_high"].astype(float).fillna(rows[metric]).to_numpy(float)
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, mean, width, yerr=[mean - low, high - mean], capsize=3, label=d, color=f"C{j}")
        for p, value in zip(pos, mean):
            ax.text(p, value, f"{value:.3f}", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(x, variants)
    ax.set(ylabel=ylabel, title=title)
    ax.set_ylim(0, float(np.nanmax(table[f"{metric}_high"].astype(float).fillna(table[metric]))) * 1.25)
    ax.legend(fontsize=8, ncols=len(decoders))
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)
