"""Figures of the GAN families: measures and losses per epoch, over seeds and variants."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from dlrepro.report.figures import plt, save


class Panel(NamedTuple):
    column: str  # a history column (checkpoint columns are empty between checkpoints)
    label: str  # the y axis
    lines: dict[str, float] = {}  # reference levels drawn dashed: {legend text: value}
    log: bool = False


def seed_histories(results_dir: str | Path, variant: str) -> list[pd.DataFrame]:
    """Every seed's history.csv of a variant, in seed order."""
    runs = sorted((Path(results_dir) / variant / "runs").glob("seed*/history.csv"), key=lambda p: int(p.parent.name[4:]))
    return [pd.read_csv(r) for r in runs]


def history_panels(groups: dict[str, list[pd.DataFrame]], panels: list[Panel], path: str | Path, title: str,
                   columns: int = 3) -> None:
    """One panel per history column against the epoch: a thin line per seed, a thick mean per group
    (colour), reference levels dashed in grey."""
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.1 * rows), squeeze=False, layout="constrained")
    for ax, panel in zip(axes.flat, panels):
        for i, (name, frames) in enumerate(groups.items()):
            colour = f"C{i % 10}"
            kept = [f[["epoch", panel.column]].dropna() for f in frames if panel.column in f]
            if not kept:
                continue
            for f in kept:
                ax.plot(f["epoch"], f[panel.column], color=colour, lw=0.7, alpha=0.45)
            mean = pd.concat(kept).groupby("epoch")[panel.column].mean()
            ax.plot(mean.index, mean.to_numpy(), color=colour, lw=2, marker="o", ms=3,
                    label=f"{name} (mean of {len(kept)})")
        for j, (text, value) in enumerate(panel.lines.items()):
            ax.axhline(value, color="0.3", ls=["--", ":", "-."][j % 3], lw=1.2, label=text)
        ax.set(xlabel="epoch", ylabel=panel.label, yscale="log" if panel.log else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title)
    save(fig, path)


def interval_bars(table: pd.DataFrame, metric: str, path: str | Path, title: str, ylabel: str,
                  lines: dict[str, float] | None = None, log: bool = False) -> None:
    """table: one row per variant with <metric>, <metric>_low, <metric>_high: bars with 95% intervals."""
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(table) + 2), 3.4))
    mean = table[metric]
    low, high = table[f"{metric}_low"].fillna(mean), table[f"{metric}_high"].fillna(mean)
    ax.bar(table["variant"], mean, yerr=[mean - low, high - mean], capsize=4, color=[f"C{i}" for i in range(len(table))])
    for j, (text, value) in enumerate((lines or {}).items()):
        ax.axhline(value, color="0.3", ls=["--", ":"][j % 2], lw=1.2, label=text)
    if lines:
        ax.legend(fontsize=8)
    ax.set(ylabel=ylabel, title=title, yscale="log" if log else "linear")
    ax.tick_params(axis="x", rotation=20)
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)
