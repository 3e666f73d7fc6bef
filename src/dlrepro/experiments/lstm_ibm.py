"""LSTM ideal-binary-mask denoiser on utterances (REFERENCE.md denoise-lstm-ibm, denoise-lstm-chunks).

Utterances (FSDD in the full profile, generated speakers in the embedded one) mixed with noise
at the features stage's SNRs. An LSTM over noisy log magnitudes predicts a sigmoid mask fit by
MSE to the ideal binary mask 1(|S| > |N|). Two schemes (variants):
- padded: every utterance zero-padded to the longest one, a batch of whole utterances;
- chunks: every utterance cut into chunks of chunk_frames frames (only the last chunk padded),
  the LSTM state starting afresh in each chunk, at training and at test time.
Padding never counts: the loss is averaged over real frames only (Split.mask). The epoch with
the best mean validation SNR is kept; the test utterances (a random share, never trained on)
are denoised once per seed: noisy STFT x predicted mask, inverse STFT, SNR and SI-SDR per
utterance, averaged. The noisy mixtures' mean SNR is the floor.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.data import audio
from dlrepro.io import load_arrays, read_json, write_json
from dlrepro.models.speech import Denoiser, describe_denoiser
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, fit, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds
from dlrepro.train.speech import log_stats, masked_mse, padded

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

ARRAYS = ["noisy_mag", "ibm", "frame_offsets", "split", "offsets", "clean_wave", "noisy_wave", "snr_db"]


def to_chunks(x: torch.Tensor, mask: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded utterances (n, T, F) as chunks of `size` frames (n * T / size, size, F), chunks of
    padding only dropped; T is a multiple of size."""
    n, t, f = x.shape
    cx, cm = x.reshape(n * t // size, size, f), mask.reshape(n * t // size, size)
    keep = cm.sum(1) > 0
    return cx[keep], cm[keep]


class ChunkWise(torch.nn.Module):
    """Runs a sequence model on consecutive chunks of `size` frames, each starting afresh."""

    def __init__(self, model: torch.nn.Module, size: int):
        super().__init__()
        self.model, self.size = model, size

    def forward(self, x):
        n, t, f = x.shape
        return self.model(x.reshape(n * t // self.size, self.size, f)).reshape(n, t, -1)


class Utterances:
    def __init__(self, data_dir: str | Path, chunk: int):
        self.a = load_arrays(data_dir, ARRAYS)
        self.meta = read_json(Path(data_dir) / "meta.json")
        fo = self.a["frame_offsets"]
        lengths = np.diff(fo)
        self.length = int(math.ceil(lengths.max() / chunk) * chunk)  # a multiple of the chunk size
        train_frames = np.concatenate([self.a["noisy_mag"][fo[i]:fo[i + 1]] for i in self.ids(0)])
        self.scale = float(np.sqrt(np.mean(train_frames.astype(np.float64) ** 2)))
        self.mean, self.std = log_stats(train_frames / self.scale)

    def ids(self, part: int) -> np.ndarray:
        return np.flatnonzero(self.a["split"] == part)

    def tensors(self, part: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fo, utts = self.a["frame_offsets"], self.ids(part)
        x, mask = padded(self.a["noisy_mag"] / self.scale, fo, utts, self.length)
        y, _ = padded(self.a["ibm"].astype(np.float32), fo, utts, self.length)
        return (torch.from_numpy(x).to(device), torch.from_numpy(y).to(device), torch.from_numpy(mask).to(device))

    def waves(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        o = self.a["offsets"]
        return self.a["clean_wave"][o[i]:o[i + 1]], self.a["noisy_wave"][o[i]:o[i + 1]]


@torch.no_grad()
def score(model: torch.nn.Module, data: Utterances, part: int, x: torch.Tensor, batch_size: int = 256) -> dict:
    """Mean SNR and SI-SDR of the utterances of a part denoised with the predicted masks."""
    model.eval()
    masks = torch.cat([model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)]).cpu().numpy()
    snr, sdr, by_input = [], [], {}
    for row, i in enumerate(data.ids(part)):
        clean, noisy = data.waves(i)
        spec = audio.stft(noisy)
        est = audio.istft(spec * masks[row, :len(spec)], len(noisy))
        snr.append(audio.snr_db(clean, est))
        sdr.append(audio.si_sdr_db(clean, est))
        by_input.setdefault(f"{data.a['snr_db'][i]:g}", []).append(snr[-1])
    return {"snr_db": float(np.mean(snr)), "si_sdr_db": float(np.mean(sdr)),
            "snr_db_by_input": {k: float(np.mean(v)) for k, v in sorted(by_input.items(), key=lambda kv: float(kv[0]))}}


def data_rate(data_dir: str | Path) -> int:
    return int(read_json(Path(data_dir) / "meta.json")["sample_rate"])


def noisy_floor(data: Utterances, part: int) -> dict:
    snr = [audio.snr_db(*data.waves(i)) for i in data.ids(part)]
    sdr = [audio.si_sdr_db(*data.waves(i)) for i in data.ids(part)]
    return {"noisy_snr_db": float(np.mean(snr)), "noisy_si_sdr_db": float(np.mean(sdr))}


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    m, t, scheme = values["model"], values["train"], values["scheme"]
    data = Utterances(data_dir, t["chunk_frames"])
    (tx, ty, tm), (vx, vy, vm), (sx, _, _) = (data.tensors(p, device) for p in (0, 1, 2))
    if scheme == "chunks":
        (tx, tm), (ty, _), (vx, vm), (vy, _) = (to_chunks(tx, tm, t["chunk_frames"]), to_chunks(ty, tm, t["chunk_frames"]),
                                                to_chunks(vx, vm, t["chunk_frames"]), to_chunks(vy, vm, t["chunk_frames"]))
    elif scheme != "padded":
        raise ValueError(f"unknown scheme {scheme!r} (padded, chunks)")
    train_split, val_split = Split(tx, ty, tm), Split(vx, vy, vm)
    val_x = data.tensors(1, device)[0]

    def wrap(model):
        return ChunkWise(model, t["chunk_frames"]) if scheme == "chunks" else model

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        model = Denoiser(m, data.mean, data.std).to(device)
        val_score = lambda mdl: {"score": score(wrap(mdl), data, 1, val_x)["snr_db"]}  # noqa: E731
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", loss_fn=masked_mse, score_fn=val_score)
        model.load_state_dict(result.best_state)
        if seed == t["seeds"][0]:
            torch.save(model.state_dict(), seed_dir / "model.pt")
        test = score(wrap(model), data, 2, sx)
        return {"best_epoch": result.best_epoch, "test_snr_db": test["snr_db"], "test_si_sdr_db": test["si_sdr_db"],
                "test_snr_db_by_input": test["snr_db_by_input"]}, result.history

    counts = {p: len(data.ids(i)) for i, p in enumerate(("n_train", "n_val", "n_test"))}
    data_info = {"source": data.meta["source"], "dataset": f"speech_features ({data.meta['n_utterances']} utterances)",
                 **{k: f"{v} utterances" for k, v in counts.items()}}
    how = (f"utterances zero-padded to {data.length} frames" if scheme == "padded" else
           f"{t['chunk_frames']}-frame chunks, last chunk padded, state reset per chunk")
    setting = (f"{describe_denoiser(m)}; {how}; padding masked out of the MSE; {schedule_text(t)}; best validation-SNR epoch; "
               f"mixtures at {', '.join(f'{s:g}' for s in sorted(set(data.a['snr_db'].tolist())))} dB")
    return run_seeds(label, values["train"]["seeds"], train_one, runs_dir, metrics_path, provenance_path,
                     params=values, summary={"test_snr_db": (-np.inf, np.inf), "test_si_sdr_db": (-np.inf, np.inf)},
                     data=data_info, setting=setting, started=started, device=device,
                     extra={**noisy_floor(data, 2), "padded_length": data.length})


@torch.no_grad()
def listening_clips(data_dir: str | Path, results_dir: Path, metrics: dict[str, dict]) -> list[tuple[str, str, np.ndarray]]:
    """Noisy input, each variant's output (its first seed's saved model) and clean target of two
    held-out test utterances: the first one mixed at the lowest input SNR and the first at the highest."""
    params = next(iter(metrics.values()))["params"]
    data = Utterances(data_dir, params["train"]["chunk_frames"])
    test, inputs = data.ids(2), data.a["snr_db"][data.ids(2)]
    picks = list(dict.fromkeys([int(np.flatnonzero(inputs == inputs.min())[0]), int(np.flatnonzero(inputs == inputs.max())[0])]))
    x = data.tensors(2, "cpu")[0][picks]
    outputs = {}
    for v, mt in metrics.items():
        p = mt["params"]
        model = Denoiser(p["model"], data.mean, data.std)
        model.load_state_dict(torch.load(results_dir / v / "runs" / f"seed{mt['per_seed'][0]['seed']}" / "model.pt",
                                         map_location="cpu", weights_only=True))
        model.eval()
        outputs[v] = (ChunkWise(model, p["train"]["chunk_frames"]) if p["scheme"] == "chunks" else model)(x).numpy()
    clips = []
    for n, row in enumerate(picks):
        clean, noisy = data.waves(test[row])
        spec = audio.stft(noisy)
        head = f"test utterance {n + 1} (mixed at {inputs[row]:g} dB)"
        clips.append((f"{head}: noisy input ({audio.snr_db(clean, noisy):.1f} dB SNR)", f"utt{n + 1}_noisy", noisy))
        for v, masks in outputs.items():
            est = audio.istft(spec * masks[n, :len(spec)], len(noisy))
            clips.append((f"{head}: {v}, denoised ({audio.snr_db(clean, est):.1f} dB)", f"utt{n + 1}_{v}", est))
        clips.append((f"{head}: clean target", f"utt{n + 1}_clean", clean))
    return clips


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import speech_figures as figs

    results_dir = Path(results_dir)
    metrics = {v: read_result(results_dir / v) for v in variants}
    rows = []
    for v, mt in metrics.items():
        snr, sdr = mt["test_snr_db"], mt["test_si_sdr_db"]
        by_input = pd.DataFrame([r["test_snr_db_by_input"] for r in mt["per_seed"]]).mean()
        rows.append({"variant": v, "scheme": mt["params"]["scheme"], "test_snr_db": snr["mean"], "low": snr["low"],
                     "high": snr["high"], "test_si_sdr_db": sdr["mean"], "seeds": snr["n"],
                     "noisy_snr_db": mt["noisy_snr_db"], "gain_db": snr["mean"] - mt["noisy_snr_db"],
                     **{f"snr_db_at_input_{k}": val for k, val in by_input.items()}})
    table = pd.DataFrame(rows)
    histories = {v: pd.read_csv(results_dir / v / "runs" / f"seed{metrics[v]['per_seed'][0]['seed']}" / "history.csv")
                 for v in variants}
    floor = next(iter(metrics.values()))["noisy_snr_db"]
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        write_json(tmp / "summary.json", {"noisy_snr_db": floor})
        figs.snr_bars(table, floor, None, tmp / "snr.png", "mean SNR of held-out utterances (95% interval over seeds)")
        figs.curves(histories, "val_score", tmp / "curves.png", "validation SNR per epoch (first seed)", "SNR (dB)")
        figs.write_clips(tmp, listening_clips(data_dir, results_dir, metrics), data_rate(data_dir))
    return table
