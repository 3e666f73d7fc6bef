"""Denoisers on the course pair (REFERENCE.md denoise-fc, -cnn1d, -cnn2d, -bilstm, audio-fc-vs-cnn).

Every variant trains on overlapping chunks of frames of the training part of the pair and
keeps the epoch with the best SNR on the validation part; the test part (the end of the pair,
never trained on) is denoised once per seed: predicted magnitude x noisy phase, inverse STFT,
then SNR and SI-SDR against the clean signal. The noisy input's SNR on the same audio is the
floor every denoiser must beat; the ideal binary mask's is an oracle ceiling for masks.
Magnitudes are divided by one scale (the RMS of the training part's noisy magnitudes) so the
losses are of order one.

summarize(): the table over variants, SNR bars with intervals, spectrograms, the FC-vs-CNN
comparison and WAV excerpts (clean, noisy, each denoiser) for the report's players.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dlrepro.data import audio
from dlrepro.experiments.speech_common import chunks, log_stats, masked_mse, schedule_text, start
from dlrepro.io import atomic_path, load_arrays, read_json, write_json
from dlrepro.models.speech import Denoiser
from dlrepro.train.engine import Split, fit
from dlrepro.train.seeds import run_seeds

log = logging.getLogger(__name__)
ARRAYS = ["clean", "dirty", "bounds", "noisy_mag", "clean_mag", "ibm", "frame_bounds", "test_wave", "test_offsets"]
TEST, VAL, TRAIN = 2, 1, 0
HEADLINE = "test_snr_db"


class Pair:
    """The course pair's arrays and its three parts."""

    def __init__(self, data_dir: str | Path):
        self.a = load_arrays(data_dir, ARRAYS)
        self.meta = read_json(Path(data_dir) / "meta.json")
        self.rate = self.meta["sample_rate"]
        self.scale = float(np.sqrt(np.mean(self.frames("noisy_mag", TRAIN).astype(np.float64) ** 2)))

    def frames(self, name: str, part: int) -> np.ndarray:
        fb = self.a["frame_bounds"]
        return self.a[name][fb[part]:fb[part + 1]]

    def wave(self, name: str, part: int) -> np.ndarray:
        b = self.a["bounds"]
        return self.a[name][b[part]:b[part + 1]]

    def test_files(self) -> list[np.ndarray]:
        o = self.a["test_offsets"]
        return [self.a["test_wave"][o[i]:o[i + 1]] for i in range(len(o) - 1)]


@torch.no_grad()
def denoise(model: torch.nn.Module, noisy: np.ndarray, scale: float, device: torch.device) -> np.ndarray:
    """The denoised waveform of a noisy signal (the model's magnitude x the noisy phase)."""
    model.eval()
    spec = audio.stft(noisy)
    mag = torch.from_numpy(np.abs(spec).astype(np.float32) / scale).to(device)[None]
    est = model(mag)[0].float().cpu().numpy() * scale
    return audio.reconstruct(est, spec, len(noisy))


def noisy_floor(pair: Pair, part: int) -> dict:
    clean, dirty = pair.wave("clean", part), pair.wave("dirty", part)
    oracle = audio.reconstruct(pair.frames("ibm", part) * np.abs(audio.stft(dirty)), audio.stft(dirty), len(dirty))
    return {"noisy_snr_db": audio.snr_db(clean, dirty), "noisy_si_sdr_db": audio.si_sdr_db(clean, dirty),
            "oracle_ibm_snr_db": audio.snr_db(clean, oracle)}


def describe(m: dict) -> str:
    kind = m["kind"]
    if kind == "fc":
        net = f"FC 513 → {'→'.join(map(str, m['hidden']))} → 513"
    elif kind == "cnn1d":
        net = (f"per-frame 1D CNN {', '.join(f'conv {c}@1×{k} → pool 2' for c, k in zip(m['channels'], m['kernels']))}"
               f" → dense {m['dense']} → dropout {m['dropout']} → 513")
    elif kind == "cnn2d":
        net = (f"2D CNN on the last {m['window']} frames, "
               f"{', '.join(f'conv {c}@{k}×{k} → pool' for c, k in zip(m['channels'], m['kernels']))}"
               f" → dense {m['dense']} → dropout {m['dropout']} → 513")
    else:
        net = f"{'BiLSTM' if kind == 'bilstm' else 'LSTM'} {'→'.join(map(str, m['hidden']))} → 513"
    output = {"mask": "sigmoid mask × noisy magnitude", "magnitude": "ReLU magnitude regression",
              "ibm": "sigmoid mask against the ideal binary mask"}[m["output"]]
    return f"{net}; {output}; input log(1+|X|) standardised"


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str) -> dict:
    started, device = start(runtime)
    pair = Pair(data_dir)
    m, t = values["model"], values["train"]

    def split(part: int, hop: int) -> Split:
        x = chunks(pair.frames("noisy_mag", part) / pair.scale, t["chunk_frames"], hop)
        y = chunks(pair.frames("clean_mag", part) / pair.scale, t["chunk_frames"], hop)
        return Split(torch.from_numpy(x).float().to(device), torch.from_numpy(y).float().to(device))

    train_split, val_split = split(TRAIN, t["chunk_hop"]), split(VAL, t["chunk_frames"])
    mean, std = log_stats(pair.frames("noisy_mag", TRAIN) / pair.scale)
    val_clean, val_noisy = pair.wave("clean", VAL), pair.wave("dirty", VAL)
    test_clean, test_noisy = pair.wave("clean", TEST), pair.wave("dirty", TEST)

    def score(model):
        snr = audio.snr_db(val_clean, denoise(model, val_noisy, pair.scale, device))
        return {"score": snr, "snr_db": snr}

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        model = Denoiser(m, mean, std).to(device)
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", loss_fn=masked_mse, score_fn=score)
        model.load_state_dict(result.best_state)
        test_est = denoise(model, test_noisy, pair.scale, device)
        if seed == t["seeds"][0]:  # the first seed's model and audio, for the report and listening
            torch.save(model.state_dict(), seed_dir / "model.pt")
            audio.write_wav(seed_dir / "denoised_test_part.wav", test_est, pair.rate)
            for i, wave in enumerate(pair.test_files(), start=1):
                audio.write_wav(seed_dir / f"denoised_test_x_{i:02d}.wav", denoise(model, wave, pair.scale, device),
                                pair.rate)
        run = {"best_epoch": result.best_epoch, "val_snr_db": score(model)["snr_db"],
               "test_snr_db": audio.snr_db(test_clean, test_est), "test_si_sdr_db": audio.si_sdr_db(test_clean, test_est)}
        return run, result.history

    n_params = sum(p.numel() for p in Denoiser(m, mean, std).parameters())
    seconds = pair.meta["seconds"]
    data = {"source": pair.meta["source"], "dataset": "speech_denoise (course pair)",
            "n_train": f"{seconds['train']:.1f} s", "n_val": f"{seconds['val']:.1f} s", "n_test": f"{seconds['test']:.1f} s"}
    setting = (f"{describe(m)}; {schedule_text(t)} on {t['chunk_frames']}-frame chunks; best validation-SNR epoch; "
               f"SNR on the held-out end of the pair")
    return run_seeds(label, values["train"]["seeds"], train_one, runs_dir, metrics_path, provenance_path,
                     params=values, summary={"test_snr_db": (-np.inf, np.inf), "test_si_sdr_db": (-np.inf, np.inf)},
                     data=data, setting=setting, started=started, device=device,
                     extra={**noisy_floor(pair, TEST), "n_parameters": n_params})


EXCERPT_S = 4.0


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], out: str | Path) -> pd.DataFrame:
    from dlrepro.report import speech_figures as figs

    pair = Pair(data_dir)
    results_dir = Path(results_dir)
    metrics = {v: read_json(results_dir / v / "metrics.json") for v in variants}
    rows = []
    for v, mt in metrics.items():
        snr, sdr = mt["test_snr_db"], mt["test_si_sdr_db"]
        rows.append({"variant": v, "model": describe(mt["params"]["model"]), "test_snr_db": snr["mean"],
                     "low": snr["low"], "high": snr["high"], "test_si_sdr_db": sdr["mean"], "si_sdr_low": sdr["low"],
                     "si_sdr_high": sdr["high"], "seeds": snr["n"], "noisy_snr_db": mt["noisy_snr_db"],
                     "gain_db": snr["mean"] - mt["noisy_snr_db"], "parameters": mt["n_parameters"]})
    table = pd.DataFrame(rows)
    first = {v: metrics[v]["per_seed"][0]["seed"] for v in variants}
    n = int(EXCERPT_S * pair.rate)
    clean, noisy = pair.wave("clean", TEST)[:n], pair.wave("dirty", TEST)[:n]
    denoised = {v: audio.read_wav(results_dir / v / "runs" / f"seed{first[v]}" / "denoised_test_part.wav",
                                  pair.rate)[:n] for v in variants}
    floor = next(iter(metrics.values()))
    fc_cnn = comparison(metrics, "fc5", "cnn1d")
    with atomic_path(out, directory=True) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        write_json(tmp / "summary.json", {"noisy_snr_db": floor["noisy_snr_db"], "noisy_si_sdr_db": floor["noisy_si_sdr_db"],
                                          "oracle_ibm_snr_db": floor["oracle_ibm_snr_db"], "fc_vs_cnn": fc_cnn,
                                          "best": table.loc[table["test_snr_db"].idxmax(), "variant"]})
        figs.snr_bars(table, floor["noisy_snr_db"], floor["oracle_ibm_snr_db"], tmp / "snr.png",
                      "held-out SNR per denoiser (mean and 95% interval over seeds)")
        figs.spectrograms({"noisy": noisy, "clean": clean, **{f"denoised: {v}": w for v, w in denoised.items()}},
                          pair.rate, tmp / "spectrograms.png", f"first {EXCERPT_S:g} s of the held-out part")
        audio_dir = tmp / "audio"
        audio_dir.mkdir()
        for name, wave in {"clean": clean, "noisy": noisy, **denoised}.items():
            audio.write_wav(audio_dir / f"{name}.wav", wave, pair.rate)
    return table


def comparison(metrics: dict, a: str, b: str) -> dict | None:
    """Per-seed SNR difference a - b (seeds paired by index) with its mean and interval."""
    from dlrepro.train.stats import mean_ci95

    if a not in metrics or b not in metrics:
        return None
    diffs = [x["test_snr_db"] - y["test_snr_db"] for x, y in zip(metrics[a]["per_seed"], metrics[b]["per_seed"])]
    return {"a": a, "b": b, "snr_difference_db": mean_ci95(diffs)}
