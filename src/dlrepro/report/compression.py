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


NEAR = 0.1  # the zoomed panel: mean accuracies within 10 points of the baseline


def _finish(ax, zoom: bool, baseline: float, top: float, title: str) -> None:
    """Grid and title; the zoomed panel shows accuracies from NEAR below the baseline up to `top`
    (the highest interval end it shows), so the models closest to the baseline are in view."""
    ax.grid(alpha=0.3, which="both")
    if zoom:
        ax.set_ylim(baseline - NEAR, min(1.0, top) + 0.01)
        ax.set_title(f"within {100 * NEAR:.0f} points of the baseline (others below the panel)")
    else:
        ax.set_title(title)


def _top(rows: pd.DataFrame, baseline: float) -> float:
    """The highest interval end among the rows whose mean is within NEAR of the baseline."""
    near = rows[rows["test_accuracy"] >= baseline - NEAR]
    return float(max(near["test_accuracy_high"].fillna(near["test_accuracy"]).max(), baseline)) if len(near) else baseline


def _legend_below(fig, handles, labels, ncol: int) -> None:
    """One legend for the figure, under the panels, so that it covers no data."""
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, fontsize=8, frameon=False)


def accuracy_vs_rank(table: pd.DataFrame, baseline: float, path: str | Path) -> None:
    """Test accuracy (mean and 95% interval over seeds) against the rank of the hidden layers."""
    ranked = table[table["rank"].notna() & (table["sparsity"] == 0)].copy()
    ranked["rank"] = ranked["rank"].astype(str).str.replace(r"\.0$", "", regex=True)
    order = _rank_order(ranked["rank"])
    series = [(i, training, label, precision, ls, marker)
              for i, (training, label) in enumerate(TRAINING_LABELS.items())
              for precision, ls, marker in (("float32", "-", "o"), ("int8", ":", "s"))
              if not ranked[(ranked["training"] == training) & (ranked["precision"] == precision)].empty]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, zoom in zip(axes, (False, True)):
        for k, (i, training, label, precision, ls, marker) in enumerate(series):
            rows = ranked[(ranked["training"] == training) & (ranked["precision"] == precision)]
            rows = rows.assign(pos=rows["rank"].map(order.index)).sort_values("pos")
            # Series sharing a rank often have the same accuracy: a small sideways shift keeps each visible.
            shift = (k - (len(series) - 1) / 2) * 0.07
            _errorbar(ax, rows["pos"] + shift, rows, color=f"C{i}", ls=ls, marker=marker, ms=4, capsize=3,
                      label=f"{label} ({precision})")
        ax.axhline(baseline, color="k", lw=1, ls="--", label="uncompressed baseline")
        ax.set_xticks(range(len(order)), order)
        ax.set(xlabel="rank D of each hidden weight matrix", ylabel="test accuracy")
        _finish(ax, zoom, baseline, _top(ranked, baseline), "all ranks")
    _legend_below(fig, *axes[0].get_legend_handles_labels(), ncol=4)
    fig.suptitle("accuracy vs rank (mean and 95% interval over seeds; series at one rank shifted apart)")
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


# Marker per method, largest drawn first: methods with the same size and accuracy (the full-rank
# SVD is the baseline; SVD in the loop at D=20 matches the one-shot SVD) stay visible as nested shapes.
MARKERS = {"baseline": ("*", 13), "one-shot SVD": ("o", 8), "factorised, fine-tuned": ("s", 6),
           "SVD in the loop": ("^", 6), "SVD + pruning, fine-tuned": ("D", 5), "pruning, fine-tuned": ("v", 6),
           "pruning, one-shot": ("<", 6)}


def pareto(table: pd.DataFrame, baseline: float, tolerance: float, claimed_pct: float, path: str | Path) -> None:
    """Test accuracy against stored size (% of the baseline's file), every method, float32 and int8."""
    from matplotlib.lines import Line2D

    table = table.assign(family=table.apply(family, axis=1))
    front = pareto_front(table)
    names = sorted(set(table["family"]), key=lambda n: (-MARKERS.get(n, ("o", 6))[1], n))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for ax, zoom in zip(axes, (False, True)):
        for i, name in enumerate(names):
            rows = table[table["family"] == name]
            marker, ms = MARKERS.get(name, ("o", 6))
            for precision, fill in (("float32", f"C{i}"), ("int8", "white")):
                sub = rows[rows["precision"] == precision]
                _errorbar(ax, sub["size_pct"], sub, ls="none", marker=marker, mfc=fill, mec=f"C{i}", ecolor=f"C{i}",
                          ms=ms, capsize=2, elinewidth=1)
        ax.step(front["size_pct"], front["test_accuracy"], where="post", color="grey", lw=1)
        ax.axhspan(baseline - tolerance, baseline + tolerance, color="k", alpha=0.08)
        ax.axhline(baseline, color="k", lw=0.8, ls="--")
        ax.axvline(claimed_pct, color="r", lw=1, ls=":")
        ax.set(xscale="log", xlabel="stored size, % of the baseline's file", ylabel="test accuracy")
        _finish(ax, zoom, baseline, _top(table, baseline), "all stored models")
    # One entry per method (its colour and shape) and one per fill, not one per method and precision.
    handles = [Line2D([], [], ls="none", marker=MARKERS.get(n, ("o", 6))[0], ms=7, mfc=f"C{i}", mec=f"C{i}", label=n)
               for i, n in enumerate(names)]
    handles += [Line2D([], [], ls="none", marker="o", ms=7, mfc="grey", mec="grey", label="float32 (filled)"),
                Line2D([], [], ls="none", marker="o", ms=7, mfc="white", mec="grey", label="int8 (hollow)"),
                Line2D([], [], color="grey", lw=1, label="Pareto front"),
                plt.Rectangle((0, 0), 1, 1, color="k", alpha=0.08, label=f"baseline ± {100 * tolerance:.1f} point"),
                Line2D([], [], color="r", lw=1, ls=":", label=f"claimed size ({claimed_pct:g}%)")]
    _legend_below(fig, handles, [h.get_label() for h in handles], ncol=4)
    fig.suptitle("accuracy vs stored bytes (mean and 95% interval over seeds; filled: float32, hollow: int8)")
    save(fig, path)


def spectra(values: np.ndarray, path: str | Path) -> None:
    """Singular values of each hidden layer's weight, one panel per layer (first seed thick, others
    thin; the other layers' first seed in grey behind, since the spectra nearly coincide), and the
    share of squared Frobenius norm the leading D of them hold, marked at the ranks the variants use."""
    n_seeds, n_layers = values.shape[:2]
    fig, axes = plt.subplots(2, n_layers, figsize=(2.6 * n_layers + 1, 6.4), sharex=True, sharey="row",
                             squeeze=False, layout="constrained")

    def finite(i, j):
        s = values[i, j]
        return s[~np.isnan(s)].astype(np.float64)

    for j in range(n_layers):
        ax_s, ax_e = axes[0, j], axes[1, j]
        for other in range(n_layers):
            if other != j:
                s = finite(0, other)
                ax_s.plot(np.arange(1, len(s) + 1), s, color="0.8", lw=0.8)
                ax_e.plot(np.arange(1, len(s) + 1), np.cumsum(s ** 2) / np.sum(s ** 2), color="0.8", lw=0.8)
        for i in range(n_seeds):
            s = finite(i, j)
            style = {"color": f"C{j}", "lw": 1.5 if i == 0 else 0.6, "alpha": 1 if i == 0 else 0.6}
            ax_s.plot(np.arange(1, len(s) + 1), s, **style)
            ax_e.plot(np.arange(1, len(s) + 1), np.cumsum(s ** 2) / np.sum(s ** 2), **style)
        s = finite(0, j)
        share = np.cumsum(s ** 2) / np.sum(s ** 2)
        ax_e.plot([d for d in RANK_MARKS if d <= len(s)], [share[d - 1] for d in RANK_MARKS if d <= len(s)], "k.", ms=5)
        shown = [d for d in (10, 50, 200) if d <= len(s)]
        ax_e.text(0.04, 0.96, "\n".join(f"D={d}: {share[d - 1]:.0%}" for d in shown), transform=ax_e.transAxes,
                  va="top", fontsize=7)
        ax_s.set_title(f"hidden {j + 1} ({len(s)} values)", fontsize=9)
        for ax in (ax_s, ax_e):
            for d in RANK_MARKS:
                ax.axvline(d, color="grey", lw=0.5, ls=":")
            ax.set_xscale("log")
            ax.grid(alpha=0.3, which="major")
        ax_e.set_xlabel("index of the singular value")
    axes[0, 0].set(yscale="log", ylabel="singular value")
    axes[1, 0].set(ylabel="share of ||W||² in the leading D")
    fig.suptitle(f"baseline hidden weight matrices ({n_seeds} seeds: first thick, others thin; grey: the other "
                 f"layers; dotted: D = {', '.join(map(str, RANK_MARKS))})", fontsize=10)
    save(fig, path)
