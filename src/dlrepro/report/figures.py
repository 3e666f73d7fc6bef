"""Matplotlib figures (Agg, no dates embedded), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dlrepro.io import atomic_path  # noqa: E402


def save(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        # PNG carries no date; dropping the Software tag keeps bytes independent of versions too.
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def training_curves(histories: dict[str, pd.DataFrame], path: str | Path, title: str) -> None:
    """Loss and accuracy per epoch (or step), train and validation, one line per seed (fit()'s histories)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = "epoch"
    for i, (label, h) in enumerate(histories.items()):
        color = f"C{i}"
        x = "epoch" if "epoch" in h else "step"
        ax_loss.plot(h[x], h["train_loss"], color=color, ls="--", lw=1)
        ax_loss.plot(h[x], h["val_loss"], color=color, label=label)
        ax_acc.plot(h[x], h["train_accuracy"], color=color, ls="--", lw=1)
        ax_acc.plot(h[x], h["val_accuracy"], color=color, label=label)
    ax_loss.set(xlabel=x, ylabel="cross-entropy", yscale="log", title="loss (dashed: train)")
    ax_acc.set(xlabel=x, ylabel="accuracy", title="accuracy (dashed: train)")
    ax_acc.legend(fontsize=8)
    fig.suptitle(title)
    save(fig, path)


def embedding_grid(maps: np.ndarray, labels: np.ndarray, names: list[str], path: str | Path, title: str) -> None:
    """One 2-D scatter per layer, coloured by class."""
    cols = min(len(names), 3)
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.8 * rows), squeeze=False)
    for ax, xy, name in zip(axes.flat, maps, names):
        points = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.colorbar(points, ax=axes, ticks=range(10), label="digit", shrink=0.8)
    fig.suptitle(title)
    save(fig, path)


def probe_accuracy(table: pd.DataFrame, path: str | Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(table["layer"], table["probe_accuracy"], marker="o")
    ax.set(xlabel="layer", ylabel="test accuracy of a linear probe", title=title)
    ax.grid(alpha=0.3)
    save(fig, path)


def grid_heatmap(cube: np.ndarray, levels: list[list], names: list[str], path: str | Path, title: str) -> None:
    """A 3-factor grid as one annotated heat map per level of the last factor (rows: first, columns: second)."""
    fig, axes = plt.subplots(1, cube.shape[2], figsize=(3.6 * cube.shape[2] + 1, 3.4), squeeze=False)
    for k, ax in enumerate(axes[0]):
        image = ax.imshow(cube[:, :, k], vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(levels[1])), [str(v) for v in levels[1]], rotation=30)
        ax.set_yticks(range(len(levels[0])), [str(v) for v in levels[0]] if k == 0 else [])
        ax.set(xlabel=names[1], ylabel=names[0] if k == 0 else None, title=f"{names[2]} = {levels[2][k]}")
        for (i, j), value in np.ndenumerate(cube[:, :, k]):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8,
                        color="black" if value > 0.6 else "white")
    fig.colorbar(image, ax=axes, shrink=0.85, label="accuracy")
    fig.suptitle(title)
    save(fig, path)


def histograms_over_training(arrays: dict[str, np.ndarray], steps: list[int], layers: list[str],
                             path: str | Path, title: str) -> None:
    """Rows: quantities; columns: layers. Each panel is a histogram per snapshot, stacked over the
    steps as an image (x: value, y: step, brightness: share of values), like TensorBoard's view."""
    names = list(arrays)
    fig, axes = plt.subplots(len(names), len(layers), figsize=(2.6 * len(layers), 1.9 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, layer in enumerate(layers):
            ax = axes[r, c]
            values = arrays[name][:, c, :].astype(np.float64)
            finite = np.isfinite(values)
            note = f"{1 - finite.mean():.0%} non-finite" if not finite.all() else ""
            low, high = np.percentile(values[finite], [0.5, 99.5]) if finite.any() else (-1.0, 1.0)
            if high - low <= 1e-12 * max(1.0, abs(high)):
                note = f"all ≈ {values[finite].mean():.3g}" if finite.any() else note
                low, high = low - 1e-3 * max(abs(low), 1e-6), high + 1e-3 * max(abs(high), 1e-6)
            bins = np.linspace(low, high, 41)
            image = np.stack([np.histogram(np.clip(row[np.isfinite(row)], low, high), bins=bins)[0] /
                              max(np.isfinite(row).sum(), 1) for row in values])
            ax.imshow(image, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
                      extent=(low, high, 0, len(steps)))
            ax.set_yticks([0.5, len(steps) - 0.5], [str(steps[0]), str(steps[-1])], fontsize=6)
            ax.set_xticks([low, high], [f"{low:.2g}", f"{high:.2g}"], fontsize=6)
            ax.set_title(f"{layer}: {name}", fontsize=7)
            if note:
                ax.text(0.02, 0.92, note, transform=ax.transAxes, fontsize=6, va="top", color="cyan")
    fig.supylabel("step", fontsize=8)
    fig.suptitle(title, fontsize=9)
    save(fig, path)


def diagnosis_curves(histories: dict[str, list[pd.DataFrame]], broken: pd.DataFrame, fixed: pd.DataFrame,
                     path: str | Path, title: str) -> None:
    """Broken (red) beside fixed (blue): loss, validation accuracy, gradient norms, dead/saturated units."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
    style = {"broken": "C3", "fixed": "C0"}
    for name, runs in histories.items():
        for i, h in enumerate(runs):
            label = name if i == 0 else None
            axes[0].plot(h["step"], h["train_loss"], color=style[name], lw=1, label=label)
            axes[1].plot(h["step"], h["val_accuracy"], color=style[name], lw=1, label=label)
    for name, scalars in (("broken", broken), ("fixed", fixed)):
        for j, (layer, rows) in enumerate(scalars.groupby("layer", sort=False)):
            ls = ["-", "--", ":", "-."][j % 4]
            axes[2].plot(rows["step"], rows["grad_norm"].clip(lower=1e-12), color=style[name], ls=ls,
                         label=f"{name} {layer}")
            if layer != "output":
                axes[3].plot(rows["step"], rows["dead_fraction"], color=style[name], ls=ls, label=f"{name} {layer} dead")
                axes[3].plot(rows["step"], rows["saturated_fraction"], color=style[name], ls=ls, alpha=0.45,
                             marker=".", label=f"{name} {layer} saturated")
    axes[0].set(xlabel="step", ylabel="training cross-entropy", yscale="log", title="loss")
    axes[1].set(xlabel="step", ylabel="validation accuracy", ylim=(0, 1), title="accuracy")
    axes[2].set(xlabel="step", ylabel="weight-gradient norm", yscale="log", title="gradients per layer (first seed)")
    axes[3].set(xlabel="step", ylabel="share of units / activations", ylim=(-0.02, 1.02),
                title="dead units (line), saturated (dots)")
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=6)
    fig.suptitle(f"{title} (non-finite values are not drawn; the histograms count them)", y=1.03)
    save(fig, path)


def subset_distributions(accuracy: np.ndarray, names: list[str], path: str | Path, title: str,
                         chance: float = 0.1) -> None:
    """accuracy [seed, layer, draw]: one violin per layer over every draw of every seed."""
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2, 3.6))
    data = [accuracy[:, i, :].ravel() for i in range(len(names))]
    ax.violinplot(data, showmedians=True, showextrema=True)
    ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set(ylabel="test accuracy", ylim=(0, 1), title=title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def subset_examples(shown: dict, names: list[str], path: str | Path, title: str) -> None:
    """Per layer, the best and worst subset: mean activation of each unit (columns) per digit (rows)."""
    fig, axes = plt.subplots(2, len(names), figsize=(2.3 * len(names), 6.4), squeeze=False)
    fig.subplots_adjust(hspace=0.5)
    for c, name in enumerate(names):
        for r, kind in enumerate(("best", "worst")):
            ax, info = axes[r, c], shown[(name, kind)]
            means = info["class_means"]
            span = np.ptp(means, axis=0, keepdims=True)
            scaled = (means - means.min(0, keepdims=True)) / np.where(span > 0, span, 1)
            ax.imshow(scaled, cmap="magma", aspect="auto", vmin=0, vmax=1)
            ax.set_title(f"{name}, {kind}\ntest {info['test']:.2f}", fontsize=8)
            ax.set_xticks(range(len(info["units"])), [str(u) for u in info["units"]], rotation=90, fontsize=5)
            ax.set_yticks(range(means.shape[0]), [str(d) for d in range(means.shape[0])] if c == 0 else [],
                          fontsize=6)
    fig.suptitle(title + "\n(each unit scaled to its own range; columns: unit index; black columns: dead units)",
                 fontsize=9, y=1.0)
    save(fig, path)


def order_study(table: pd.DataFrame, streams: dict[str, np.ndarray], n: int, path: str | Path, title: str) -> None:
    """Per input-pipeline order: test accuracy (95% interval), classes per batch, and the label stream."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 0.55 * len(table) + 2), gridspec_kw={"width_ratios": [1, 1, 2.4]})
    y = np.arange(len(table))[::-1]
    err = np.array([table["test_mean"] - table["test_low"].fillna(table["test_mean"]),
                    table["test_high"].fillna(table["test_mean"]) - table["test_mean"]])
    axes[0].barh(y, table["test_mean"], xerr=err, color="C0", capsize=3)
    axes[0].set(xlim=(0, 1), xlabel="test accuracy (95% interval)", title="accuracy")
    axes[0].set_yticks(y, [f"{o}\n({ops})" for o, ops in zip(table["order"], table["ops"])], fontsize=7)
    axes[1].barh(y, table["classes_per_batch"], color="C1")
    axes[1].set(xlim=(0, 10), xlabel="distinct classes per batch (mean)", title="mixing")
    axes[1].set_yticks(y, [])
    width = max(len(s) for s in streams.values())
    strip = np.full((len(streams), width), np.nan)
    for i, s in enumerate(streams.values()):
        strip[i, :len(s)] = s
    axes[2].imshow(strip, aspect="auto", cmap="tab10", vmin=-0.5, vmax=9.5, interpolation="nearest",
                   extent=(0, width, len(streams) - 0.5, -0.5))
    for k in range(1, width // n + 1):
        axes[2].axvline(k * n, color="black", lw=0.8, ls="--")
    axes[2].set_yticks(range(len(streams)), list(streams), fontsize=7)
    axes[2].set(xlabel="position in the example stream (dashed: one pass of the data)",
                title="label of each example as the pipeline emits it (first seed)")
    fig.suptitle(title)
    save(fig, path)


def traversal_effects(curves: dict[str, dict[str, np.ndarray]], path: str | Path, title: str) -> None:
    """A latent traversal's effect on the decoded digits: mean lean (degrees) and ink per traversed
    value, one line per latent dimension, one row of panels per run (curves: run -> values, lean
    and ink as [dims, steps] arrays)."""
    fig, axes = plt.subplots(len(curves), 2, figsize=(9, 2.8 * len(curves) + 0.6), squeeze=False, layout="constrained")
    for row, (run, c) in enumerate(curves.items()):
        for ax, key, label in ((axes[row, 0], "lean", "lean (degrees)"), (axes[row, 1], "ink", "ink (share of pixels)")):
            for d, line in enumerate(c[key]):
                ax.plot(c["values"], line, marker=".", color=f"C{d}", label=f"dimension {d}")
            ax.set(xlabel="traversed value (prior standard deviations)", ylabel=label, title=f"{run}: {key}")
            ax.grid(alpha=0.3)
        axes[row, 1].legend(fontsize=7)
    fig.suptitle(title)
    save(fig, path)


class Panel(NamedTuple):
    column: str  # a history column (checkpoint columns are empty between checkpoints)
    label: str  # the y axis
    lines: dict[str, float] = {}  # reference levels drawn dashed: {legend text: value}
    log: bool = False
    ylim: tuple[float, float] | None = None


def seed_histories(runs: str | Path) -> dict[int, pd.DataFrame]:
    """Every seed<k>/history.csv in a runs folder, by seed, in seed order."""
    files = sorted(Path(runs).glob("seed*/history.csv"), key=lambda p: int(p.parent.name[4:]))
    return {int(f.parent.name[4:]): pd.read_csv(f) for f in files}


def variant_histories(results_dir: str | Path, variants: list[str]) -> dict[str, list[pd.DataFrame]]:
    """Each variant's seed histories (in seed order), as history_panels takes its groups."""
    return {v: list(seed_histories(Path(results_dir) / v / "runs").values()) for v in variants}


def variant_training_curves(results_dir: str | Path, variants: list[str], family: str, out: Path) -> None:
    """Each variant's training curves, every seed from its history.csv, as out/curves_<variant>.png."""
    for v in variants:
        histories = seed_histories(Path(results_dir) / v / "runs")
        training_curves({f"seed {s}": h for s, h in histories.items()}, out / f"curves_{v}.png",
                        f"{family}/{v}: training curves")


def history_panels(groups: dict[str, list[pd.DataFrame]], panels: list[Panel], path: str | Path, title: str,
                   columns: int = 3, x: str = "epoch") -> None:
    """One panel per history column against x. Each group (a colour) is one run, drawn as it is,
    or several (seeds, grid cells), drawn thin with their mean thick; reference levels dashed in
    grey. The legend sits in the first panel and in every panel with reference levels."""
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.1 * rows), squeeze=False, layout="constrained")
    for k, (ax, panel) in enumerate(zip(axes.flat, panels)):
        for i, (name, frames) in enumerate(groups.items()):
            colour = f"C{i % 10}"
            kept = [f[[x, panel.column]].dropna() for f in frames if panel.column in f]
            if not kept:
                continue
            if len(kept) > 1:
                for f in kept:
                    ax.plot(f[x], f[panel.column], color=colour, lw=0.6, alpha=0.4)
            mean = pd.concat(kept).groupby(x)[panel.column].mean()
            ax.plot(mean.index, mean.to_numpy(), color=colour, lw=2 if len(kept) > 1 else 1.4,
                    marker="o" if len(mean) <= 25 else None, ms=3,
                    label=f"{name} (mean of {len(kept)})" if len(kept) > 1 else name)
        for j, (text, value) in enumerate(panel.lines.items()):
            ax.axhline(value, color="0.3", ls=["--", ":", "-."][j % 3], lw=1.2, label=text)
        ax.set(xlabel=x, ylabel=panel.label, yscale="log" if panel.log else "linear")
        if panel.ylim:
            ax.set_ylim(*panel.ylim)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        if k == 0 or panel.lines:
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


def roc(curves: dict[str, tuple[np.ndarray, np.ndarray, float, float]], path: str | Path, title: str) -> None:
    """ROC curves: name -> (false positive rates, true positive rates, AUC, EER)."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, (fpr, tpr, auc, eer) in curves.items():
        ax.plot(fpr, tpr, label=f"{name}: AUC {auc:.3f}, EER {eer:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.plot([0, 1], [1, 0], color="grey", ls="--", lw=0.8, label="EER line")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")
    save(fig, path)
