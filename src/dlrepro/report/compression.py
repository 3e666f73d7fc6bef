"""Figures of the compression family: accuracy vs rank, accuracy vs stored bytes, spectra."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dlrepro.report.figures import save

TRAINING_LABELS = {"oneshot": "one-shot SVD", "finetune": "factorised, fine-tuned", "loop": "SVD in the loop"}
RANK_MARKS = (10, 20, 50, 100, 200)


def family(row) -> str:
    has_rank, pruned = row["rank"] is not None and not pd.isna(row["rank"]), row["sparsity"] > 0
    if has_rank and pruned:
        return "SVD + pruning, fine-tuned"
    if has_rank:
        return TRAINING_LABELS[row["training"]]
    if pruned:
        return "pruning, " + ("fine-tuned" if row["training"] == "finetune" else "one-shot")
    return "baseline"


def _rank_order(ranks) -> list[str]:
    numeric = sorted({int(r) for r in ranks if str(r) != "full"})
    return [str(r) for r in numeric] + (["full"] if any(str(r) == "full" for r in ranks) else [])


def _errorbar(ax, x, rows: pd.DataFrame, **style) -> None:
    """Mean test accuracy with its 95% interval over seeds (none for a single seed)."""
    low = (rows["test_accuracy"] - rows["test_accuracy_low"].fillna(rows["test_accuracy"])).clip(lower=0)
    high = (rows["test_accuracy_high"].fillna(rows["test_accuracy"]) - rows["test_accuracy"]).clip(lower=0)
    ax.errorbar(x, rows["test_accuracy"], yerr=[low, high], **style)


def _finish(ax, zoom: bool, baseline: float, below: float, title: str) -> None:
    """Grid and title; the zoomed panel shows only accuracies near the baseline."""
    ax.grid(alpha=0.3, which="both")
    if zoom:
        ax.set_ylim(baseline - below, baseline + 0.006)
        ax.set_title("near the baseline")
    else:
        ax.set_title(title)


def accuracy_vs_rank(table: pd.DataFrame, baseline: float, path: str | Path) -> None:
    """Test accuracy (mean and 95% interval over seeds) against the rank of the hidden layers."""
    ranked = table[table["rank"].notna() & (table["sparsity"] == 0)].copy()
    ranked["rank"] = ranked["rank"].astype(str).str.replace(r"\.0$", "", regex=True)
    order = _rank_order(ranked["rank"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, zoom in zip(axes, (False, True)):
        for i, (training, label) in enumerate(TRAINING_LABELS.items()):
            for precision, ls, marker in (("float32", "-", "o"), ("int8", ":", "s")):
                rows = ranked[(ranked["training"] == training) & (ranked["precision"] == precision)]
                if rows.empty:
                    continue
                rows = rows.assign(pos=rows["rank"].map(order.index)).sort_values("pos")
                _errorbar(ax, rows["pos"], rows, color=f"C{i}", ls=ls, marker=marker, ms=4, capsize=3,
                          label=f"{label} ({precision})")
        ax.axhline(baseline, color="k", lw=1, ls="--", label="uncompressed baseline")
        ax.set_xticks(range(len(order)), order)
        ax.set(xlabel="rank D of each hidden weight matrix", ylabel="test accuracy")
        _finish(ax, zoom, baseline, 0.03, "all ranks")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("accuracy vs rank (mean and 95% interval over seeds)")
    save(fig, path)


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """Points no other point beats on both size (smaller) and accuracy (higher)."""
    ordered = points.sort_values(["size_pct", "test_accuracy"], ascending=[True, False])
    front, best = [], -np.inf
    for _, row in ordered.iterrows():
        if row["test_accuracy"] > best:
            front.append(row)
            best = row["test_accuracy"]
    return pd.DataFrame(front)


def pareto(table: pd.DataFrame, baseline: float, tolerance: float, claimed_pct: float, path: str | Path) -> None:
    """Test accuracy against stored size (% of the baseline's file), every method, float32 and int8."""
    table = table.assign(family=table.apply(family, axis=1))
    front = pareto_front(table)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for ax, zoom in zip(axes, (False, True)):
        for i, (name, rows) in enumerate(table.groupby("family", sort=True)):
            for precision, fill in (("float32", f"C{i}"), ("int8", "none")):
                sub = rows[rows["precision"] == precision]
                _errorbar(ax, sub["size_pct"], sub, ls="none", marker="o", mfc=fill, mec=f"C{i}", ecolor=f"C{i}",
                          ms=6, capsize=2, label=f"{name} ({precision})")
        ax.step(front["size_pct"], front["test_accuracy"], where="post", color="grey", lw=1, label="Pareto front")
        ax.axhspan(baseline - tolerance, baseline + tolerance, color="k", alpha=0.08,
                   label=f"baseline ± {100 * tolerance:.1f} point")
        ax.axhline(baseline, color="k", lw=0.8, ls="--")
        ax.axvline(claimed_pct, color="r", lw=1, ls=":", label=f"claimed size ({claimed_pct:g}%)")
        ax.set(xscale="log", xlabel="stored size, % of the baseline's file", ylabel="test accuracy")
        _finish(ax, zoom, baseline, 0.02, "all stored models")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle("accuracy vs stored bytes (filled: float32, hollow: int8)")
    save(fig, path)


def spectra(values: np.ndarray, path: str | Path) -> None:
    """Singular values of each hidden layer's weight (first seed; others thin) and the share of
    squared Frobenius norm the leading D of them hold."""
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(11, 3.8))
    for j in range(values.shape[1]):
        for i in range(values.shape[0]):
            s = values[i, j][~np.isnan(values[i, j])]
            style = {"color": f"C{j}", "lw": 1.2 if i == 0 else 0.5, "alpha": 1 if i == 0 else 0.5}
            ax_s.plot(np.arange(1, len(s) + 1), s, label=f"hidden {j + 1}" if i == 0 else None, **style)
            ax_e.plot(np.arange(1, len(s) + 1), np.cumsum(s ** 2) / np.sum(s ** 2), **style)
    for ax in (ax_s, ax_e):
        for d in RANK_MARKS:
            ax.axvline(d, color="grey", lw=0.6, ls=":")
        ax.set(xscale="log", xlabel="index of the singular value")
        ax.grid(alpha=0.3, which="both")
    ax_s.set(yscale="log", ylabel="singular value", title="spectrum of each hidden weight matrix")
    ax_e.set(ylabel="share of ||W||²", title="held by the leading D singular values")
    ax_s.legend(fontsize=8)
    fig.suptitle(f"baseline weights ({values.shape[0]} seeds; dotted: D = {', '.join(map(str, RANK_MARKS))})")
    save(fig, path)
