"""Figures of the frame-phoneme family (Agg, no dates, written atomically through figures.save)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dlrepro.report.figures import save


def confusion(counts: np.ndarray, names: list[str], path: str | Path, title: str) -> None:
    """Row-normalised confusion matrix (each true phone's frames, shares predicted as each phone),
    the share printed where it is at least 5%. Phones that neither occur nor are predicted are left out."""
    used = np.flatnonzero((counts.sum(0) > 0) | (counts.sum(1) > 0))
    counts, names = counts[np.ix_(used, used)], [names[i] for i in used]
    totals = counts.sum(1, keepdims=True)
    share = np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.42 * n + 2.5, 0.42 * n + 1.5))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i, j in zip(*np.nonzero(np.nan_to_num(share) >= 0.05)):
        ax.text(j, i, f"{100 * share[i, j]:.0f}", ha="center", va="center", fontsize=7,
                color="white" if share[i, j] > 0.6 else "black")
    labels = [f"{p} ({int(c)})" for p, c in zip(names, totals[:, 0])]
    ax.set_xticks(np.arange(n), names, rotation=90, fontsize=8)
    ax.set_yticks(np.arange(n), labels, fontsize=8)
    ax.set(xlabel="predicted phone", ylabel="true phone (frames)", title=title)
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true phone's frames")
    save(fig, path)


def context_ablation(table: pd.DataFrame, path: str | Path, title: str) -> None:
    """Seen- and unseen-speaker frame accuracy (mean and 95% interval over seeds) against the context
    (frames on each side), with the centre-frame logistic regression as dashed lines."""
    t = table.sort_values("context")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for k, (name, colour) in enumerate((("unseen", "C3"), ("seen", "C0"))):
        col = f"{name}_frame_accuracy"
        mean = t[col].to_numpy(float)
        low, high = t[f"{col}_low"].fillna(t[col]).to_numpy(float), t[f"{col}_high"].fillna(t[col]).to_numpy(float)
        ax.errorbar(t["context"], mean, yerr=[mean - low, high - mean], color=colour, marker="o", capsize=4,
                    label=f"MLP, {name} speakers")
        for x, m in zip(t["context"], mean):
            ax.annotate(f"{m:.3f}", (x, m), xytext=(6, -12 if name == "unseen" else 6), textcoords="offset points",
                        fontsize=8, color=colour)
        base = float(t[f"baseline_{name}_frame_accuracy"].iloc[0])
        ax.axhline(base, color=colour, ls="--", lw=1, label=f"centre-frame logistic regression, {name} ({base:.3f})")
    ax.set_xticks(t["context"])
    ax.set(xlabel="context (frames on each side of the centre frame)", ylabel="frame accuracy", title=title)
    ax.margins(y=0.15)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    save(fig, path)


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, label) of each run of equal labels."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts, ends = np.concatenate([[0], edges]), np.concatenate([edges, [len(labels)]])
    return [(int(s), int(e), int(labels[s])) for s, e in zip(starts, ends)]


def frame_example(logmel: np.ndarray, true: np.ndarray, predicted: np.ndarray, names: list[str], hop_s: float,
                  path: str | Path, title: str) -> None:
    """An utterance's log-mel frames with its true and its predicted phone of every frame, as two
    strips of labelled runs under the spectrogram; wrong frames marked in red."""
    n = len(logmel)
    seconds = n * hop_s
    fig, (ax_mel, ax_true, ax_pred) = plt.subplots(3, 1, figsize=(max(7.0, 0.11 * n), 4.6), sharex=True,
                                                   gridspec_kw={"height_ratios": [3, 0.6, 0.6]})
    ax_mel.imshow(logmel.T, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, logmel.shape[1]))
    ax_mel.set(ylabel="mel band", title=title)
    for ax, labels, name in ((ax_true, true, "true"), (ax_pred, predicted, "predicted")):
        strip = ax.get_xaxis_transform()  # x in seconds, y from 0 to 1 across the strip
        for start, end, p in _runs(labels):
            ax.axvspan(start * hop_s, end * hop_s, color=f"C{p % 10}", alpha=0.35)
            ax.text((start + end) / 2 * hop_s, 0.55, names[p], ha="center", va="center", fontsize=8, transform=strip,
                    clip_on=True)
        if name == "predicted":  # a red tick under every wrong frame
            bad = np.flatnonzero(labels != true)
            ax.plot((bad + 0.5) * hop_s, np.full(len(bad), 0.15), "|", color="red", ms=8, transform=strip)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    accuracy = float(np.mean(true == predicted))
    ax_pred.set_xlabel(f"seconds ({n} frames of 10 ms; frame accuracy {accuracy:.2f}; red ticks: wrong frames)")
    ax_pred.set_xlim(0, seconds)
    save(fig, path)
