"""Audio continuation (REFERENCE.md audio-fc-vs-cnn): predict the second half of a clip from the first.

Clips of 2K frames of the clean course speech (STFT magnitudes): training clips overlap in the
training part of the pair, validation clips (best epoch) come from the validation part, test
clips (disjoint) from the held-out part. A 5-layer FC and a CNN (variants) predict the K frames
of the second half from the K frames of the first; the score is the spectral SNR of the
prediction, 10 log10(sum |S|^2 / sum (|S| - |S_hat|)^2), over every test clip, beside two
baselines without learning: repeating the last frame of the first half, and the training mean
spectrum.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.data import audio
from dlrepro.data.speech_denoise import TEST, TRAIN, VAL, Pair
from dlrepro.io import write_json
from dlrepro.models.speech import Continuation
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, fit, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds
from dlrepro.train.speech import chunks, comparison, log_stats, masked_mse

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start



def spectral_snr(target: np.ndarray, estimate: np.ndarray) -> float:
    t, e = target.astype(np.float64), estimate.astype(np.float64)
    return float(10 * np.log10(np.sum(t ** 2) / max(np.sum((t - e) ** 2), 1e-20)))


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    model.eval()
    return torch.cat([model(x[i:i + 512]).float() for i in range(0, len(x), 512)]).cpu().numpy()


def describe(m: dict, k: int) -> str:
    if m["kind"] == "fc":
        return f"FC {k}×513 → {' → '.join(map(str, m['hidden']))} → {k}×513"
    convs = " → ".join(f"conv {c}@3×3 → pool" for c in m["channels"])
    return f"CNN {convs} → dense {m['dense']} → {k}×513"


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    pair = Pair(data_dir)
    m, t, k = values["model"], values["train"], values["clip"]["half_frames"]

    def split(part: int, hop: int) -> Split:
        clips = torch.from_numpy(chunks(pair.frames("clean_mag", part) / pair.scale, 2 * k, hop)).float().to(device)
        return Split(clips[:, :k].contiguous(), clips[:, k:].contiguous())

    train_split, val_split, test_split = split(TRAIN, values["clip"]["hop"]), split(VAL, k), split(TEST, 2 * k)
    mean, std = log_stats(pair.frames("clean_mag", TRAIN) / pair.scale)
    truth = test_split.y.cpu().numpy()
    first = test_split.x.cpu().numpy()
    baselines = {"last_frame_snr_db": spectral_snr(truth, np.repeat(first[:, -1:], k, axis=1)),
                 "mean_spectrum_snr_db": spectral_snr(truth, np.broadcast_to(
                     (pair.frames("clean_mag", TRAIN) / pair.scale).mean(0), truth.shape))}

    def score(model):
        snr = spectral_snr(val_split.y.cpu().numpy(), predict(model, val_split.x))
        return {"score": snr, "snr_db": snr}

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        model = Continuation(m, k, mean, std).to(device)
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", loss_fn=masked_mse, score_fn=score)
        model.load_state_dict(result.best_state)
        prediction = predict(model, test_split.x)
        if seed == t["seeds"][0]:
            np.save(seed_dir / "test_prediction_clip0.npy", (prediction[0] * pair.scale).astype(np.float32))
        return {"best_epoch": result.best_epoch, "test_snr_db": spectral_snr(truth, prediction)}, result.history

    seconds = 2 * k * 512 / pair.rate
    data = {"source": pair.meta["source"], "dataset": f"speech_denoise clean speech, {seconds:.2f} s clips",
            "n_train": f"{len(train_split)} clips", "n_val": f"{len(val_split)} clips", "n_test": f"{len(test_split)} clips"}
    setting = f"{describe(m, k)}; {schedule_text(t)}; spectral SNR of the second half on held-out clips"
    n_params = sum(p.numel() for p in Continuation(m, k, mean, std).parameters())
    return run_seeds(label, values["train"]["seeds"], train_one, runs_dir, metrics_path, provenance_path,
                     params=values, summary={"test_snr_db": (-np.inf, np.inf)}, data=data, setting=setting,
                     started=started, device=device, extra={**baselines, "n_parameters": n_params})


def griffin_lim(magnitude: np.ndarray, length: int) -> np.ndarray:
    """A waveform for frames x 513 magnitudes without a phase (Griffin-Lim, fixed seed: same bytes every run)."""
    import librosa

    return librosa.griffinlim(np.asarray(magnitude, np.float32).T, n_iter=64, hop_length=audio.HOP,
                              n_fft=audio.N_FFT, window="hann", center=True, length=length,
                              random_state=0).astype(np.float32)


def listening_clips(data_dir: str | Path, results_dir: Path, metrics: dict[str, dict]) -> list[tuple[str, str, np.ndarray]]:
    """The first held-out test clip: the original audio, its own magnitudes turned back into audio the
    way the predictions are (Griffin-Lim: what losing the phase alone costs), and the true first half
    followed by each variant's predicted second half (its first seed's saved prediction)."""
    pair = Pair(data_dir)
    k = next(iter(metrics.values()))["params"]["clip"]["half_frames"]
    # Test clip 0 is the test part's first 2K frames; the centred STFT puts frame f at sample f * HOP.
    length = (2 * k - 1) * audio.HOP
    wave = pair.wave("clean", TEST)[:length]
    true = pair.frames("clean_mag", TEST)[:2 * k]
    clips = [("original audio of the clip (both halves)", "clip_original", wave),
             ("true magnitudes of both halves, phase by Griffin-Lim (the reference for the rows below)",
              "clip_true_griffin_lim", griffin_lim(true, length))]
    for v, mt in metrics.items():
        predicted = np.load(results_dir / v / "runs" / f"seed{mt['per_seed'][0]['seed']}" / "test_prediction_clip0.npy")
        clips.append((f"true first half, {v}'s predicted second half (phase by Griffin-Lim)", f"clip_{v}",
                      griffin_lim(np.concatenate([true[:k], predicted]), length)))
    return clips


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import speech_figures as figs

    results_dir = Path(results_dir)
    metrics = {v: read_result(results_dir / v) for v in variants}
    table = pd.DataFrame([{"variant": v, "model": describe(mt["params"]["model"], mt["params"]["clip"]["half_frames"]),
                           "test_snr_db": mt["test_snr_db"]["mean"], "low": mt["test_snr_db"]["low"],
                           "high": mt["test_snr_db"]["high"], "seeds": mt["test_snr_db"]["n"],
                           "parameters": mt["n_parameters"]} for v, mt in metrics.items()])
    any_m = next(iter(metrics.values()))
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        write_json(tmp / "summary.json", {"last_frame_snr_db": any_m["last_frame_snr_db"],
                                          "mean_spectrum_snr_db": any_m["mean_spectrum_snr_db"],
                                          "fc_vs_cnn": comparison(metrics, "fc", "cnn")})
        figs.snr_bars(table, any_m["last_frame_snr_db"], None, tmp / "snr.png",
                      "second half predicted from the first: spectral SNR (dashed: repeat the last frame)",
                      label="spectral SNR (dB)")
        figs.write_clips(tmp, listening_clips(data_dir, results_dir, metrics), Pair(data_dir).rate)
    return table
