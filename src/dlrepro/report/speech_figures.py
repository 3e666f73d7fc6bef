"""Figures of the speech family (Agg, no dates, written atomically through figures.save)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dlrepro.data import audio
from dlrepro.io import read_json, write_json
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
    # Each value past the end of its error bar, so that the bar's cap never strikes it through.
    for xi, m, lo, hi in zip(x, mean, low, high):
        up = m >= 0
        ax.annotate(f"{m:.2f}", (xi, hi if up else lo), xytext=(0, 3 if up else -3), textcoords="offset points",
                    ha="center", va="bottom" if up else "top", fontsize=8,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.margins(y=0.1)  # room for the values above the highest bar
    ax.set_xticks(x, table["variant"], rotation=20)
    ax.set(ylabel=label, title=title)
    # The legend beside the axes: inside it covered a bar.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    save(fig, path)


def spectrograms(waves: dict[str, np.ndarray], rate: int, path: str | Path, title: str) -> None:
    """Log-magnitude spectrograms (dB, one colour scale) of several signals, stacked."""
    specs = {k: 20 * np.log10(np.abs(audio.stft(w)).T + 1e-4) for k, w in waves.items()}
    top = max(s.max() for s in specs.values())
    # Constrained layout places the title and colour bar; the default left a blank band under the title.
    fig, axes = plt.subplots(len(specs), 1, figsize=(9, 1.5 * len(specs) + 0.6), sharex=True, squeeze=False,
                             layout="constrained")
    for ax, (name, s) in zip(axes[:, 0], specs.items()):
        image = ax.imshow(s, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                          extent=(0, s.shape[1] * audio.HOP / rate, 0, rate / 2000))
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds")
    fig.colorbar(image, ax=axes[:, 0], label="dB", shrink=0.6)
    fig.suptitle(title)
    save(fig, path)


def curves(histories: dict[str, pd.DataFrame], column: str, path: str | Path, title: str, ylabel: str) -> None:
    """One validation curve per variant (its first seed)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, h in histories.items():
        ax.plot(h["epoch"], h[column], label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    save(fig, path)


def wav_data_uri(wav: bytes) -> str:
    import base64

    return "data:audio/wav;base64," + base64.b64encode(wav).decode("ascii")


def audio_table(clips: list[tuple[str, str | Path | bytes]], header: tuple[str, str] = ("clip", "listen")) -> str:
    """An HTML table with one row per clip: its label in the first cell, a player in the second, the
    WAV embedded as a base64 data URI (the page works offline, with no file beside it)."""
    import html

    rows = "".join(f'<tr><td>{html.escape(label)}</td><td><audio controls preload="none" '
                   f'src="{wav_data_uri(wav if isinstance(wav, bytes) else Path(wav).read_bytes())}"></audio></td></tr>'
                   for label, wav in clips)
    return (f'<table class="audio-clips"><thead><tr><th>{html.escape(header[0])}</th>'
            f"<th>{html.escape(header[1])}</th></tr></thead><tbody>{rows}</tbody></table>")


CLIPS = "audio"  # the summary's sub-folder of short WAV clips, listed in order by clips.json


def write_clips(summary: Path, clips: list[tuple[str, str, np.ndarray]], rate: int) -> None:
    """(label, file stem, samples) clips as <summary>/audio/<stem>.wav (16-bit PCM) and clips.json, the
    rows of the page's player table in order."""
    folder = Path(summary) / CLIPS
    folder.mkdir(exist_ok=True)
    for _, stem, wave in clips:
        audio.write_wav(folder / f"{stem}.wav", wave, rate)
    write_json(folder / "clips.json", [{"label": label, "file": f"{stem}.wav"} for label, stem, _ in clips])


def clip_table(summary: str | Path) -> str:
    """The player table of the clips write_clips stored in a summary folder."""
    folder = Path(summary) / CLIPS
    return audio_table([(c["label"], folder / c["file"]) for c in read_json(folder / "clips.json")])
