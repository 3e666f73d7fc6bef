"""Summaries of the image-classification families: a table over variants and its figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlrepro.io import load_arrays, read_json
from dlrepro.report.figures import plt, save
from dlrepro.train.provenance import read_result


def results_table(results_dir: str | Path, variants: list[str]) -> pd.DataFrame:
    """One row per variant: test accuracy mean and 95% interval over seeds, spread, size, setting."""
    rows = []
    for variant in variants:
        m = read_result(Path(results_dir) / variant)
        acc = m["test_accuracy"]
        rows.append({"variant": variant, "test_accuracy": acc["mean"], "low": acc["low"], "high": acc["high"],
                     "std": acc["std"], "seeds": acc["n"], "val_accuracy": m["val_accuracy"]["mean"],
                     "parameters": m["n_parameters"], "setting": m["setting"]})
    return pd.DataFrame(rows)


def _errors(table: pd.DataFrame) -> np.ndarray:
    low = table["low"].fillna(table["test_accuracy"])
    high = table["high"].fillna(table["test_accuracy"])
    return np.vstack([table["test_accuracy"] - low, high - table["test_accuracy"]])


def bars(table: pd.DataFrame, path: str | Path, title: str, group: str | None = None, by: str | None = None) -> None:
    """Test accuracy with 95% intervals: one bar per variant, or grouped (x = group, colour = by)."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(table) + 2), 3.6))
    if group is None:
        ax.bar(table["variant"], table["test_accuracy"], yerr=_errors(table), capsize=3, color="C0")
        ax.tick_params(axis="x", rotation=45)
    else:
        groups = list(dict.fromkeys(table[group]))
        colours = list(dict.fromkeys(table[by]))
        width = 0.8 / len(colours)
        for i, c in enumerate(colours):
            part = table[table[by] == c].set_index(group).reindex(groups)
            ax.bar(np.arange(len(groups)) + (i - (len(colours) - 1) / 2) * width, part["test_accuracy"], width,
                   yerr=_errors(part.reset_index()), capsize=3, label=str(c))
        ax.set_xticks(range(len(groups)), groups)
        ax.legend(fontsize=8)
    low = float(np.nanmin(table["low"].fillna(table["test_accuracy"])))
    ax.set(ylabel="test accuracy (mean, 95% interval)", title=title, ylim=(max(0.0, low - 0.1), None))
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def heatmap(pivot: pd.DataFrame, path: str | Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(1.4 * pivot.shape[1] + 2, 0.8 * pivot.shape[0] + 1.5))
    image = ax.imshow(pivot.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(pivot.shape[1]), pivot.columns)
    ax.set_yticks(range(pivot.shape[0]), pivot.index)
    for (i, j), value in np.ndenumerate(pivot.to_numpy(dtype=float)):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w" if value < np.nanmean(pivot) else "k")
    ax.set(xlabel=pivot.columns.name, ylabel=pivot.index.name, title=title)
    fig.colorbar(image, ax=ax, label="test accuracy")
    save(fig, path)


def _seed_curves(results_dir: str | Path, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and validation accuracy [seed, epoch] of a variant, cut to its shortest run."""
    runs = sorted((Path(results_dir) / variant / "runs").glob("seed*/history.csv"))
    frames = [pd.read_csv(r) for r in runs]
    n = min(len(f) for f in frames)
    return frames[0]["epoch"].to_numpy()[:n], np.stack([f["val_accuracy"].to_numpy()[:n] for f in frames])


def curves(results_dir: str | Path, variants: list[str], path: str | Path, title: str) -> None:
    """Validation accuracy per epoch for each variant (mean over seeds; band: min to max)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, variant in enumerate(variants):
        epochs, acc = _seed_curves(results_dir, variant)
        ax.plot(epochs, acc.mean(0), color=f"C{i % 10}", ls="-" if i < 10 else "--", label=variant)
        ax.fill_between(epochs, acc.min(0), acc.max(0), color=f"C{i % 10}", alpha=0.15)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    save(fig, path)


def curves_panels(results_dir: str | Path, panels: dict[str, dict[str, str]], path: str | Path, title: str,
                  reference: dict[str, str] | None = None, reference_label: str = "reference") -> None:
    """Validation accuracy per epoch as small multiples: panels {panel title: {line label: variant}},
    each line the mean over seeds with a min-max band. reference {line label: variant}: drawn thin and
    dashed in every panel (in the line's colour) for comparison, e.g. the run without the change."""
    labels = list(dict.fromkeys(label for lines in panels.values() for label in lines))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels) + 1, 3.4), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, (name, lines) in zip(axes[0], panels.items()):
        for label, variant in lines.items():
            color = f"C{labels.index(label) % 10}"
            if reference and label in reference and reference[label] != variant:
                epochs, acc = _seed_curves(results_dir, reference[label])
                ax.plot(epochs, acc.mean(0), color=color, lw=0.9, ls="--", alpha=0.7)
            epochs, acc = _seed_curves(results_dir, variant)
            ax.plot(epochs, acc.mean(0), color=color, lw=1.8, label=label)
            ax.fill_between(epochs, acc.min(0), acc.max(0), color=color, alpha=0.15)
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("validation accuracy")
    handles, names = axes[0, 0].get_legend_handles_labels()
    if reference:
        handles.append(plt.Line2D([], [], color="grey", lw=0.9, ls="--"))
        names.append(reference_label)
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.suptitle(title)
    save(fig, path)


GAP = 2  # white pixels between the images of a grid


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """H x W x 3 floats in [0, 1] from H x W, C x H x W or H x W x C, uint8 or floats."""
    img = np.asarray(image, dtype=np.float32)
    img = img / 255 if img.max() > 1.0 else img
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 2:
        img = img[..., None]
    return np.clip(np.broadcast_to(img, (*img.shape[:2], 3)), 0, 1)


def tile(rows: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    """One RGB picture of rows of images, cells the size of the largest image, `gap` white pixels
    between them; a row shorter than the longest ends in white."""
    cells = [[_as_rgb(image) for image in images] for images in rows]
    h = max(c.shape[0] for row in cells for c in row)
    w = max(c.shape[1] for row in cells for c in row)
    n_cols = max(len(row) for row in cells)
    canvas = np.ones((len(rows) * (h + gap) - gap, n_cols * (w + gap) - gap, 3), dtype=np.float32)
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            top, left = r * (h + gap), c * (w + gap)
            canvas[top:top + cell.shape[0], left:left + cell.shape[1]] = cell
    return canvas


def image_grid(rows: list[np.ndarray], row_names: list[str], path: str | Path, title: str,
               col_names: list[str] | None = None) -> None:
    """Rows of images (each n x C x H x W or n x H x W, uint8 or floats in [0, 1]), tiled into one
    picture and drawn by a single imshow (one axes per image took 1.6 to 2 s a 12 x 10 grid, this 0.2 s)."""
    n_cols = max(len(r) for r in rows)
    canvas = tile(rows)

    def centres(n: int, extent: int) -> list[float]:
        pitch = (extent + GAP) / n     # a cell and the gap after it, in pixels
        return [i * pitch + (pitch - GAP - 1) / 2 for i in range(n)]

    fig, ax = plt.subplots(figsize=(1.1 * n_cols + 1, 1.15 * len(rows) + 0.6))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_yticks(centres(len(rows), canvas.shape[0]), row_names, fontsize=7)
    ax.set_xticks(centres(n_cols, canvas.shape[1]) if col_names else [], col_names or [], fontsize=7)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title)
    save(fig, path)


def class_samples(images: np.ndarray, labels: np.ndarray, classes: list[str], path: str | Path, title: str,
                  per_class: int = 8) -> None:
    rows = [images[np.flatnonzero(labels == c)[:per_class]] for c in range(len(classes))]
    image_grid(rows, list(classes), path, title)


def summarize_variants(results_dir: str | Path, variants: list[str], tmp: Path, title: str) -> pd.DataFrame:
    """results.csv, a bar chart and validation curves of all variants of an image family, written into tmp."""
    table = results_table(results_dir, variants)
    table.to_csv(tmp / "results.csv", index=False, float_format="%.6f")
    bars(table, tmp / "accuracy.png", f"{title}: test accuracy over seeds")
    curves(results_dir, variants, tmp / "curves.png", f"{title}: validation accuracy")
    return table


def dataset_samples(data_dir: str | Path, path: Path, title: str) -> None:
    arrays = load_arrays(data_dir, ["train_x", "train_y"])
    meta = read_json(Path(data_dir) / "meta.json")
    class_samples(arrays["train_x"], arrays["train_y"], meta["classes"], path,
                  f"{title} ({meta['source']}): training images per class")
