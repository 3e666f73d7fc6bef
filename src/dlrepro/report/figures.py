"""Matplotlib figures (Agg, no dates embedded), written atomically."""

from __future__ import annotations

from pathlib import Path

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
    """Loss and accuracy per epoch, train and validation, one line per seed."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (label, h) in enumerate(histories.items()):
        color = f"C{i}"
        ax_loss.plot(h["epoch"], h["train_loss"], color=color, ls="--", lw=1)
        ax_loss.plot(h["epoch"], h["val_loss"], color=color, label=label)
        ax_acc.plot(h["epoch"], h["train_accuracy"], color=color, ls="--", lw=1)
        ax_acc.plot(h["epoch"], h["val_accuracy"], color=color, label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss (dashed: train)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy (dashed: train)")
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
