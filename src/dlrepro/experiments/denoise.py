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
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.data import audio
from dlrepro.data.speech_denoise import TEST, TRAIN, VAL, Pair
from dlrepro.io import write_json
from dlrepro.models.speech import Denoiser, describe_denoiser
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, fit, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds
from dlrepro.train.speech import chunks, comparison, log_stats, masked_mse

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

log = logging.getLogger(__name__)


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


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
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
    setting = (f"{describe_denoiser(m)}; {schedule_text(t)} on {t['chunk_frames']}-frame chunks; best validation-SNR epoch; "
               f"SNR on the held-out end of the pair")
    return run_seeds(label, values["train"]["seeds"], train_one, runs_dir, metrics_path, provenance_path,
                     params=values, summary={"test_snr_db": (-np.inf, np.inf), "test_si_sdr_db": (-np.inf, np.inf)},
                     data=data, setting=setting, started=started, device=device,
                     extra={**noisy_floor(pair, TEST), "n_parameters": n_params})


EXCERPT_S = 4.0


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import speech_figures as figs

    pair = Pair(data_dir)
    results_dir = Path(results_dir)
    metrics = {v: read_result(results_dir / v) for v in variants}
    rows = []
    for v, mt in metrics.items():
        snr, sdr = mt["test_snr_db"], mt["test_si_sdr_db"]
        rows.append({"variant": v, "model": describe_denoiser(mt["params"]["model"]), "test_snr_db": snr["mean"],
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
    best = table.loc[table["test_snr_db"].idxmax(), "variant"]
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        write_json(tmp / "summary.json", {"noisy_snr_db": floor["noisy_snr_db"], "noisy_si_sdr_db": floor["noisy_si_sdr_db"],
                                          "oracle_ibm_snr_db": floor["oracle_ibm_snr_db"], "fc_vs_cnn": fc_cnn,
                                          "best": best})
        figs.snr_bars(table, floor["noisy_snr_db"], floor["oracle_ibm_snr_db"], tmp / "snr.png",
                      "held-out SNR per denoiser (mean and 95% interval over seeds)")
        figs.spectrograms({"noisy": noisy, "clean": clean, **{f"denoised: {v}": w for v, w in denoised.items()}},
                          pair.rate, tmp / "spectrograms.png", f"first {EXCERPT_S:g} s of the held-out part")
        audio_dir = tmp / "audio"
        audio_dir.mkdir()
        for name, wave in {"clean": clean, "noisy": noisy, **denoised}.items():
            audio.write_wav(audio_dir / f"{name}.wav", wave, pair.rate)
        # The best denoiser's output on the separate test files, for the page's players.
        best_files = tmp / "best_test_files"
        best_files.mkdir()
        for wav in sorted((results_dir / best / "runs" / f"seed{first[best]}").glob("denoised_test_x_*.wav")):
            shutil.copyfile(wav, best_files / wav.name)
    return table
