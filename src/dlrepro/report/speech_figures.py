"""Figures of the speech family (Agg, no dates, written atomically through figures.save)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dlrepro.data import audio
from dlrepro.report.figures import save


def snr_bars(table: pd.DataFrame, floor: float, oracle: float | None, path: str | Path, title: str,
             column: str = "test_snr_db", label: str = "SNR (dB)") -> None:
    """One bar per variant with its 95% interval; the noisy input (floor) and an oracle as lines."""
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(table) + 2), 3.6))
    x = np.arange(len(table))
    mean = table[column].to_numpy(float)
    low = table["low"].fillna(table[column]).to_numpy(float)
    high = table["high"].fillna(table[column]).to_numpy(float)
    ax.bar(x, mean, color="C0", yerr=[mean - low, high - mean], capsize=4)
    ax.axhline(floor, color="C3", ls="--", label=f"noisy input {floor:.2f} dB")
    if oracle is not None:
        ax.axhline(oracle, color="C2", ls=":", label=f"ideal binary mask {oracle:.2f} dB")
    for xi, m in zip(x, mean):
        ax.text(xi, m, f"{m:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, table["variant"], rotation=20)
    ax.set(ylabel=label, title=title)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, path)


def spectrograms(waves: dict[str, np.ndarray], rate: int, path: str | Path, title: str) -> None:
    """Log-magnitude spectrograms (dB, one colour scale) of several signals, stacked."""
    specs = {k: 20 * np.log10(np.abs(audio.stft(w)).T + 1e-4) for k, w in waves.items()}
    top = max(s.max() for s in specs.values())
    fig, axes = plt.subplots(len(specs), 1, figsize=(9, 1.9 * len(specs)), sharex=True, squeeze=False)
    for ax, (name, s) in zip(axes[:, 0], specs.items()):
        image = ax.imshow(s, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                          extent=(0, s.shape[1] * audio.HOP / rate, 0, rate / 2000))
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds")
    fig.colorbar(image, ax=axes[:, 0], label="dB", shrink=0.6)
    fig.suptitle(title)
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


def curves(histories: dict[str, pd.DataFrame], column: str, path: str | Path, title: str, ylabel: str) -> None:
    """One validation curve per variant (its first seed)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, h in histories.items():
        ax.plot(h["epoch"], h[column], label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    save(fig, path)


def audio_player(path: str | Path, label: str) -> str:
    """An HTML audio player with the WAV file embedded as a base64 data URI (no external file)."""
    import base64
    import html

    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<div style="margin:4px 0"><span style="display:inline-block;width:14em">{html.escape(label)}</span>'
            f'<audio controls preload="none" src="data:audio/wav;base64,{data}"></audio></div>')
