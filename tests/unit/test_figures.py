"""Report figures and audio players on small made-up data: what a reader sees, asserted where it can fail."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from dlrepro.report import compression, image_figures, speech_figures

RATE = 16000


@pytest.fixture
def figures(monkeypatch):
    """The figures a module saves, kept open (drawn) instead of closed, by file name."""
    kept = {}

    def keep(fig, path):
        fig.canvas.draw()
        kept[str(path).rsplit("/", 1)[-1]] = fig

    for module in (compression, image_figures, speech_figures):
        monkeypatch.setattr(module, "save", keep)
    return kept


def overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def compression_table() -> pd.DataFrame:
    rows = []
    for variant, training, rank, sparsity, acc in [
            ("baseline", "oneshot", None, 0.0, 0.975), ("svd_full", "oneshot", "full", 0.0, 0.975),
            ("svd_d10", "oneshot", 10, 0.0, 0.27), ("svd_d200", "oneshot", 200, 0.0, 0.91),
            ("finetune_d200", "finetune", 200, 0.0, 0.93), ("loop_d10", "loop", 10, 0.0, 0.27),
            ("prune_90", "finetune", None, 0.9, 0.80), ("svd_prune_d50", "finetune", 50, 0.5, 0.76)]:
        for precision, size in (("float32", 100.0), ("int8", 25.0)):
            scale = 1.0 if rank in (None, "full") else (rank / 1000 if isinstance(rank, int) else 1)
            rows.append({"variant": variant, "precision": precision, "training": training, "rank": rank,
                         "sparsity": sparsity, "size_pct": size * scale * (1 - sparsity), "test_accuracy": acc,
                         "test_accuracy_low": acc - 0.02, "test_accuracy_high": min(acc + 0.02, 1.0)})
    return pd.DataFrame(rows)


def test_pareto_legend_covers_no_panel_and_zoom_shows_the_models_near_the_baseline(figures):
    table = compression_table()
    compression.pareto(table, 0.975, 0.001, 3.0, "pareto.png")
    fig = figures["pareto.png"]
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    assert not any(overlaps(legend.get_window_extent(renderer), ax.get_window_extent(renderer)) for ax in fig.axes)
    # one entry per method (7 at most here) and the shared marks, not one per method and precision
    assert len(legend.get_texts()) == table.apply(compression.family, axis=1).nunique() + 5
    low, high = fig.axes[1].get_ylim()
    shown = table[(table["test_accuracy"] >= low) & (table["test_accuracy"] <= high)]
    assert set(shown["variant"]) >= {"baseline", "svd_d200", "finetune_d200"}  # not only the baseline
    assert low < 0.91 < 0.975 < high


def test_rank_panels_shift_series_apart_and_keep_the_legend_outside(figures):
    compression.accuracy_vs_rank(compression_table(), 0.975, "rank.png")
    fig = figures["rank.png"]
    renderer = fig.canvas.get_renderer()
    assert not any(overlaps(fig.legends[0].get_window_extent(renderer), ax.get_window_extent(renderer))
                   for ax in fig.axes)
    # one-shot and in-the-loop SVD at rank 10 have the same accuracy: their points must not coincide
    xs = {c.get_label(): c.lines[0].get_xdata() for c in fig.axes[0].containers}
    assert xs["one-shot SVD (float32)"][0] != xs["SVD in the loop (float32)"][0]


def test_spectra_draw_one_panel_pair_per_layer(figures):
    values = np.full((2, 3, 8), np.nan, np.float32)
    values[:, :, :6] = np.linspace(3, 0.1, 6)
    values[:, 0, 6:] = [0.05, 0.01]
    compression.spectra(values, "spectra.png")
    assert len(figures["spectra.png"].axes) == 2 * 3


def test_snr_bar_values_sit_beyond_their_error_bars_and_the_legend_beside_the_bars(figures):
    table = pd.DataFrame({"variant": ["a", "b", "c"], "test_snr_db": [10.0, 4.0, -2.0],
                          "low": [9.0, 3.0, -3.0], "high": [11.0, 5.0, -1.0]})
    speech_figures.snr_bars(table, 6.0, 16.0, "snr.png", "t")
    fig = figures["snr.png"]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = {t.get_text(): t for t in ax.texts}
    assert set(labels) == {"10.00", "4.00", "-2.00"}
    for (text, end), above in zip((("10.00", 11.0), ("4.00", 5.0), ("-2.00", -3.0)), (True, True, False)):
        box = labels[text].get_window_extent(renderer).transformed(ax.transData.inverted())
        assert (box.y0 >= end) if above else (box.y1 <= end), text
    legend = ax.get_legend().get_window_extent(renderer)
    assert not overlaps(legend, ax.get_window_extent(renderer))


def test_spectrograms_leave_no_blank_band_under_the_title(figures):
    t = np.arange(RATE) / RATE
    speech_figures.spectrograms({"x": np.sin(2 * np.pi * 440 * t), "y": np.sin(2 * np.pi * 880 * t)}, RATE,
                                "spec.png", "title")
    fig = figures["spec.png"]
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    first = fig.axes[0].get_tightbbox(renderer)
    assert title.y0 - first.y1 < 0.06 * fig.bbox.height


def test_augmentation_curves_are_small_multiples(figures, tmp_path):
    for v in ("a_none", "a_crop", "b_none", "b_crop"):
        for seed in (0, 1):
            run = tmp_path / v / "runs" / f"seed{seed}"
            run.mkdir(parents=True)
            pd.DataFrame({"epoch": [1, 2, 3], "val_accuracy": [0.2, 0.4 + 0.01 * seed, 0.5]}).to_csv(
                run / "history.csv", index=False)
    panels = {"none": {"A": "a_none", "B": "b_none"}, "crop": {"A": "a_crop", "B": "b_crop"}}
    image_figures.curves_panels(tmp_path, panels, "curves.png", "t", reference={"A": "a_none", "B": "b_none"},
                                reference_label="no augmentation")
    fig = figures["curves.png"]
    assert [ax.get_title() for ax in fig.axes] == ["none", "crop"]
    assert len(fig.axes[0].get_lines()) == 2 and len(fig.axes[1].get_lines()) == 4  # + dashed references
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["A", "B", "no augmentation"]


def wav(seconds: float) -> np.ndarray:
    return (0.1 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def test_audio_table_has_one_row_per_clip_label_first_then_a_playable_player(tmp_path):
    speech_figures.write_clips(tmp_path, [("noisy <input>", "noisy", wav(0.5)), ("clean", "clean", wav(0.25))], RATE)
    assert sorted(p.name for p in (tmp_path / "audio").iterdir()) == ["clean.wav", "clips.json", "noisy.wav"]
    html = speech_figures.clip_table(tmp_path)
    rows = re.findall(r"<tr><td[^>]*>(.*?)</td><td><audio controls[^>]*src=\"data:audio/wav;base64,([^\"]+)\"></audio>"
                      r"</td></tr>", html)
    assert [label for label, _ in rows] == ["noisy &lt;input&gt;", "clean"]  # in order, escaped
    for (_, data), seconds in zip(rows, (0.5, 0.25)):
        samples, rate = sf.read(io.BytesIO(base64.b64decode(data)), dtype="int16")
        assert rate == RATE and len(samples) == int(seconds * RATE) and np.abs(samples).max() > 0
    assert html.count("<audio ") == 2


def test_written_clips_are_byte_stable(tmp_path):
    for out in ("one", "two"):
        (tmp_path / out).mkdir()
        speech_figures.write_clips(tmp_path / out, [("a", "a", wav(0.1))], RATE)
    assert (tmp_path / "one/audio/a.wav").read_bytes() == (tmp_path / "two/audio/a.wav").read_bytes()


def test_tile_puts_each_image_in_its_cell_with_white_gaps_and_white_for_missing_cells():
    grey = np.full((2, 4, 4), 0.25, dtype=np.float32)          # two grey floats
    colour = np.zeros((1, 3, 4, 4), dtype=np.uint8)            # one red uint8, channels first
    colour[:, 0] = 255
    canvas = image_figures.tile([grey, colour], gap=1)
    assert canvas.shape == (2 * 4 + 1, 2 * 4 + 1, 3)
    assert np.all(canvas[:4, :4] == 0.25) and np.all(canvas[:4, 5:] == 0.25)
    assert np.all(canvas[4] == 1.0) and np.all(canvas[:, 4] == 1.0)     # the gaps
    assert np.all(canvas[5:, :4] == [1.0, 0.0, 0.0])                     # red, scaled from uint8
    assert np.all(canvas[5:, 5:] == 1.0)                                 # the second row's missing cell


def test_image_grid_labels_rows_and_columns_at_their_cells(figures):
    rows = [np.zeros((3, 28, 28), dtype=np.float32) for _ in range(2)]
    image_figures.image_grid(rows, ["first", "second"], "grid.png", "t", col_names=["a", "b", "c"])
    ax = figures["grid.png"].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["first", "second"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert np.allclose(ax.get_xticks(), [13.5, 43.5, 73.5]) and np.allclose(ax.get_yticks(), [13.5, 43.5])
