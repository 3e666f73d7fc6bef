"""Phone recognition without alignment: sequences of spoken digits → phone sequences with CTC
(REFERENCE.md ctc-phoneme).

A conv front end and recurrent layers (models/ctc.py) give per-frame log-probabilities of the
phones and the blank; torch.nn.CTCLoss trains them on (log-mel frames, phone sequence) pairs of
the speech_sequences dataset with no frame labels. Validation sequences (unseen recordings of the
training speakers, or of speakers held out whole: the dataset's val_speakers) pick the epoch by
greedy phone error rate. The test sequences (speakers never heard in training) are decoded once,
from the model's log-probabilities as numpy arrays, by mytorch's greedy decoder and its prefix
beam search at every width of eval.beam_widths, and once more at the widest width with a phone
n-gram fitted on the training sequences' transcripts (shallow fusion, eval.lm; decoder `beamK_lm`).

Metrics per decoder: phone error rate (PER: edit distances summed over the sequences, divided by
the summed reference lengths) and the mean Levenshtein distance per sequence (the original's
metric). The headline `test_per` and `test_mean_edit_distance` are those of the widest beam;
`beam_minus_greedy_per` is the widest beam's PER minus greedy's (≤ 0: the beam is no worse);
`lm_minus_beam_per` is the n-gram's effect at that width (the acoustic model's headline is kept
without it).
On a sample of validation sequences, the trained model's log-probabilities go through both
torch's CTC loss and mytorch's: `ctc_relative_difference` is the largest relative difference of
the per-sequence losses.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.io import load_arrays, read_json, write_json
from dlrepro.models.ctc import BLANK, CTCModel, describe
from dlrepro.mytorch.ctc import CTCLoss as MyCTCLoss
from dlrepro.mytorch.decode import NGram, beam_search, edit_distance, error_rate, greedy
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, fit, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

ARRAYS = ["mel", "frame_offsets", "phones", "phone_offsets", "split", "speaker", "words", "word_offsets"]
PER_BOUNDS = (0.0, math.inf)  # insertions can push a PER past 1


class Sequences:
    """The dataset's sequences on one device: padded batches by index, with no per-sequence Python."""

    def __init__(self, a: dict, device: torch.device):
        self.frames = torch.from_numpy(a["mel"]).to(device)
        self.starts = torch.from_numpy(a["frame_offsets"][:-1]).to(device)
        self.lengths = torch.from_numpy(np.diff(a["frame_offsets"])).to(device)
        self.phones = torch.from_numpy(a["phones"]).to(device)
        self.phone_starts = torch.from_numpy(a["phone_offsets"][:-1]).to(device)
        self.phone_lengths = torch.from_numpy(np.diff(a["phone_offsets"])).to(device)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames (B, longest, bands), zero past each length, and the lengths."""
        lengths = self.lengths[idx]
        steps = torch.arange(int(lengths.max()), device=idx.device)
        rows = (self.starts[idx, None] + steps[None]).clamp(max=len(self.frames) - 1)
        inside = (steps[None] < lengths[:, None])[..., None]
        return self.frames[rows] * inside, lengths

    def targets(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded class ids (B, longest): phone id + 1 (0 is the blank) and the lengths."""
        lengths = self.phone_lengths[idx]
        steps = torch.arange(int(lengths.max()), device=idx.device)
        rows = (self.phone_starts[idx, None] + steps[None]).clamp(max=len(self.phones) - 1)
        return torch.where(steps[None] < lengths[:, None], self.phones[rows] + 1, 0), lengths

    def references(self, idx: np.ndarray) -> list[np.ndarray]:
        phones, starts, lengths = (t.cpu().numpy() for t in (self.phones, self.phone_starts, self.phone_lengths))
        return [phones[starts[i]:starts[i] + lengths[i]] + 1 for i in idx]


class OnSequences(torch.nn.Module):
    """The model applied to sequences by index (what fit() hands a model): idx -> log-probs (B, T', C)."""

    def __init__(self, model: CTCModel, data: Sequences):
        super().__init__()
        self.model, self.data = model, data

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(*self.data.batch(idx))[0]

    def out_lengths(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model.out_lengths(self.data.lengths[idx])


def ctc_loss_fn(net: OnSequences):
    """fit()'s loss: torch's CTC loss (mean over the batch of −log p / target length). On CUDA the
    loss runs on the CPU: torch's CUDA CTC backward is not deterministic."""
    loss = torch.nn.CTCLoss(blank=BLANK, reduction="mean", zero_infinity=True)

    def fn(log_probs: torch.Tensor, idx: torch.Tensor, mask=None) -> torch.Tensor:
        targets, target_lengths = net.data.targets(idx)
        return loss(log_probs.transpose(0, 1).cpu(), targets.cpu(), net.out_lengths(idx).cpu(), target_lengths.cpu())

    return fn


@torch.no_grad()
def log_probs_of(net: OnSequences, idx: np.ndarray, batch_size: int = 64) -> list[np.ndarray]:
    """Each sequence's log-probabilities (T'_n, C) as float64 numpy arrays (eval mode)."""
    net.eval()
    out = []
    device = net.data.lengths.device
    for start in range(0, len(idx), batch_size):
        chunk = torch.from_numpy(idx[start:start + batch_size]).to(device)
        lp = net(chunk).double().cpu().numpy()
        lengths = net.out_lengths(chunk).cpu().numpy()
        out += [lp[n, :lengths[n]] for n in range(len(chunk))]
    return out


def decode_greedy(log_probs: list[np.ndarray]) -> list[list[int]]:
    """mytorch's greedy decoder on ragged sequences, padded into one (T, N, C) array."""
    longest, classes = max(len(lp) for lp in log_probs), log_probs[0].shape[1]
    padded = np.zeros((longest, len(log_probs), classes))
    for n, lp in enumerate(log_probs):
        padded[:len(lp), n] = lp
    return greedy(padded, BLANK, [len(lp) for lp in log_probs])


def decoders(widths: list[int]) -> list[str]:
    """Greedy, the beam at each width, and the widest beam with the phone n-gram."""
    return ["greedy", *(f"beam{w}" for w in widths), f"beam{widths[-1]}_lm"]


def evaluate_decoders(log_probs: list[np.ndarray], refs: list[np.ndarray], widths: list[int], fusion: dict,
                      seconds: dict | None = None) -> tuple[dict, dict]:
    """Per decoder: PER and mean edit distance; and the hypotheses. fusion: beam_search's lm,
    lm_weight and insertion_bonus for the `_lm` decoder."""
    metrics, hyps = {}, {}
    for name in decoders(widths):
        started = time.perf_counter()
        if name == "greedy":
            found = decode_greedy(log_probs)
        else:
            width, _, lm = name[4:].partition("_")
            options = fusion if lm else {}
            found = [list(beam_search(lp, int(width), BLANK, **options).sequence) for lp in log_probs]
        if seconds is not None:
            seconds[name] = round(time.perf_counter() - started, 3)
        distances, per = error_rate(refs, found)
        metrics[f"test_per_{name}"], metrics[f"test_mean_edit_distance_{name}"] = per, float(distances.mean())
        hyps[name] = found
    return metrics, hyps


def ctc_relative_difference(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray,
                            target_lengths: np.ndarray) -> float:
    """Largest relative difference between torch's and mytorch's per-sequence CTC losses of the
    same float64 log-probabilities (T, N, C) and padded targets (N, S)."""
    ref = torch.nn.functional.ctc_loss(torch.from_numpy(log_probs), torch.from_numpy(targets),
                                       torch.from_numpy(input_lengths), torch.from_numpy(target_lengths),
                                       blank=BLANK, reduction="none").numpy()
    ours = MyCTCLoss(blank=BLANK, reduction="none").forward(log_probs, targets, input_lengths, target_lengths)
    return float(np.max(np.abs(ours - ref) / np.abs(ref)))


@torch.no_grad()
def ctc_agreement(net: OnSequences, idx: np.ndarray) -> float:
    """ctc_relative_difference on the model's log-probabilities of sequences idx (eval mode)."""
    chunk = torch.from_numpy(idx).to(net.data.lengths.device)
    net.eval()
    log_probs = net(chunk).double().transpose(0, 1).cpu().numpy()
    targets, target_lengths = (t.cpu().numpy() for t in net.data.targets(chunk))
    return ctc_relative_difference(log_probs, targets, net.out_lengths(chunk).cpu().numpy(), target_lengths)


def normalisation(a: dict, train_idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band mean and standard deviation of the training sequences' frames."""
    fo = a["frame_offsets"]
    rows = np.zeros(len(a["mel"]), bool)
    starts, ends = fo[train_idx], fo[train_idx + 1]
    rows[np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])] = True
    frames = a["mel"][rows].astype(np.float64)
    return torch.from_numpy(frames.mean(0)), torch.from_numpy(frames.std(0) + 1e-3)


def validation_text(meta: dict) -> str:
    """What the validation sequences are: the voices held out whole (val_speakers), else the training
    speakers' unseen recordings."""
    if meta["val_speakers"]:
        return f"validation speakers held out whole ({', '.join(meta['val_speakers'])})"
    return "unseen recordings of the training speakers"


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    a = load_arrays(data_dir, ARRAYS)
    meta = read_json(Path(data_dir) / "meta.json")
    m, t, e, s = values["model"], values["train"], values["eval"], values["specaugment"]
    data = Sequences(a, device)
    idx = {name: np.flatnonzero(a["split"] == k) for k, name in enumerate(("train", "val", "test"))}
    mean, std = normalisation(a, idx["train"])
    classes = len(meta["phones"]) + 1
    split = {name: Split(torch.from_numpy(i).to(device), torch.from_numpy(i).to(device)) for name, i in idx.items()}
    val_refs, test_refs = data.references(idx["val"]), data.references(idx["test"])
    widths = sorted(e["beam_widths"])
    decode_seconds: dict[str, dict] = {}
    widest = f"beam{widths[-1]}"
    lm = e["lm"]
    fusion = {"lm": NGram(data.references(idx["train"]), lm["order"], classes, BLANK),
              "lm_weight": lm["weight"], "insertion_bonus": lm["insertion_bonus"]}

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        model = CTCModel(m, a["mel"].shape[1], classes, mean, std)
        if s["time_masks"] or s["freq_masks"] or s["freq_warp"]:
            model.augment = s
            model.generator = torch.Generator(device=device).manual_seed(seed)
        net = OnSequences(model, data).to(device)

        def val_score(_) -> dict:
            per = error_rate(val_refs, decode_greedy(log_probs_of(net, idx["val"])))[1]
            return {"score": -per, "per": per}

        result = fit(net, split["train"], split["val"], epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", loss_fn=ctc_loss_fn(net), score_fn=val_score)
        net.load_state_dict(result.best_state)
        seconds = decode_seconds.setdefault(f"seed{seed}", {})
        test_metrics, hyps = evaluate_decoders(log_probs_of(net, idx["test"]), test_refs, widths, fusion, seconds)
        shown = min(e["examples"], len(idx["test"]))
        write_json(seed_dir / "examples.json", {name: [list(map(int, h)) for h in found[:shown]]
                                                for name, found in hyps.items()})
        if seed == t["seeds"][0]:
            torch.save(model.state_dict(), seed_dir / "model.pt")
        run = {"best_epoch": result.best_epoch, "val_per": -max(r["val_score"] for r in result.history),
               **test_metrics, "test_per": test_metrics[f"test_per_{widest}"],
               "test_mean_edit_distance": test_metrics[f"test_mean_edit_distance_{widest}"],
               "beam_minus_greedy_per": test_metrics[f"test_per_{widest}"] - test_metrics["test_per_greedy"],
               "lm_minus_beam_per": test_metrics[f"test_per_{widest}_lm"] - test_metrics[f"test_per_{widest}"],
               "ctc_relative_difference": ctc_agreement(net, idx["val"][:e["ctc_check"]])}
        return run, result.history

    summary = {"test_per": PER_BOUNDS, "test_mean_edit_distance": PER_BOUNDS,
               "beam_minus_greedy_per": (-math.inf, math.inf), "lm_minus_beam_per": (-math.inf, math.inf),
               "val_per": PER_BOUNDS,
               "ctc_relative_difference": PER_BOUNDS,
               **{f"test_{k}_{d}": PER_BOUNDS for k in ("per", "mean_edit_distance") for d in decoders(widths)}}
    lengths = np.diff(a["phone_offsets"])
    info = {"source": meta["source"], "dataset": "speech_sequences", "n_train": f"{len(idx['train'])} sequences",
            "n_val": f"{len(idx['val'])} sequences", "n_test": f"{len(idx['test'])} sequences",
            "test_speakers": meta["test_speakers"], "train_speakers": meta["train_speakers"],
            "val_speakers": meta["val_speakers"], "phones_per_test_sequence": float(lengths[idx["test"]].mean())}
    setting = (f"{a['mel'].shape[1]} log-mel bands to {meta['mel_fmax_hz']:g} Hz; {describe(m, s)}; CTC "
               f"({classes - 1} phones + blank); {schedule_text(t)}; epoch by greedy PER on {validation_text(meta)}; "
               f"test: {len(meta['test_speakers'])} unseen speakers, mytorch greedy and beam "
               f"{', '.join(map(str, widths))}; headline at beam {widths[-1]}; beam {widths[-1]} also with a phone "
               f"{lm['order']}-gram of the training transcripts (weight {lm['weight']:g}, "
               f"insertion bonus {lm['insertion_bonus']:g})")
    return run_seeds(label, t["seeds"], train_one, runs_dir, metrics_path, provenance_path, params=values,
                     summary=summary, data=info, setting=setting, started=started, device=device,
                     extra={"decode_seconds": decode_seconds, "decoders": decoders(widths)})


def examples(data_dir: Path, results_dir: Path, metrics: dict[str, dict], meta: dict) -> tuple[pd.DataFrame, list]:
    """The test sequences whose audio the dataset kept: truth and each variant's decodes (first seed:
    greedy, widest beam, widest beam with the n-gram), and the clips."""
    import pandas as pd

    a = load_arrays(data_dir, ARRAYS + ["wave", "wave_offsets"])
    test = np.flatnonzero(a["split"] == 2)[:len(a["wave_offsets"]) - 1]
    phones = ["-", *meta["phones"]]

    def spell(ids) -> str:
        return " ".join(phones[i] for i in ids)

    rows, clips = [], []
    for k, i in enumerate(test):
        words = a["words"][a["word_offsets"][i]:a["word_offsets"][i + 1]]
        truth = a["phones"][a["phone_offsets"][i]:a["phone_offsets"][i + 1]] + 1
        said = " ".join(meta["word_labels"][w] for w in words)
        row = {"sequence": k + 1, "speaker": meta["speakers"][int(a["speaker"][i])], "words": said,
               "truth": spell(truth)}
        for v, mt in metrics.items():
            first = mt["per_seed"][0]["seed"]
            found = read_json(results_dir / v / "runs" / f"seed{first}" / "examples.json")
            for name in ("greedy", *mt["decoders"][-2:]):  # greedy, the widest beam, and it with the n-gram
                if k < len(found[name]):
                    row[f"{v} {name}"] = f"{spell(found[name][k])} ({edit_distance(truth, found[name][k])})"
        rows.append(row)
        wo = a["wave_offsets"]
        clips.append((f"test sequence {k + 1}: {row['speaker']} says {said}", f"sequence{k + 1}",
                      a["wave"][wo[k]:wo[k + 1]]))
    return pd.DataFrame(rows), clips


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import ctc_figures, figures
    from dlrepro.report import speech_figures as figs

    data_dir, results_dir = Path(data_dir), Path(results_dir)
    meta = read_json(data_dir / "meta.json")
    metrics = {v: read_result(results_dir / v) for v in variants}
    rows = []
    for v, mt in metrics.items():
        for d in mt["decoders"]:
            per, med = mt[f"test_per_{d}"], mt[f"test_mean_edit_distance_{d}"]
            rows.append({"variant": v, "decoder": d, "test_per": per["mean"], "test_per_low": per["low"],
                         "test_per_high": per["high"], "mean_edit_distance": med["mean"],
                         "mean_edit_distance_low": med["low"], "mean_edit_distance_high": med["high"],
                         "seeds": per["n"]})
    table = pd.DataFrame(rows)
    checks = pd.DataFrame([{"variant": v, "val_per": mt["val_per"]["mean"],
                            "beam_minus_greedy_per": mt["beam_minus_greedy_per"]["mean"],
                            "beam_minus_greedy_low": mt["beam_minus_greedy_per"]["low"],
                            "beam_minus_greedy_high": mt["beam_minus_greedy_per"]["high"],
                            "lm_minus_beam_per": mt["lm_minus_beam_per"]["mean"],
                            "lm_minus_beam_low": mt["lm_minus_beam_per"]["low"],
                            "lm_minus_beam_high": mt["lm_minus_beam_per"]["high"],
                            "ctc_relative_difference_max": max(r["ctc_relative_difference"] for r in mt["per_seed"]),
                            "seeds": mt["test_per"]["n"]} for v, mt in metrics.items()])
    shown, clips = examples(data_dir, results_dir, metrics, meta)
    first = next(iter(metrics.values()))
    seconds = {v: {d: float(np.mean([s[d] for s in mt["decode_seconds"].values()])) for d in mt["decoders"]}
               for v, mt in metrics.items()}
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        checks.to_csv(tmp / "checks.csv", index=False, float_format="%.6g")
        shown.to_csv(tmp / "examples.csv", index=False)
        write_json(tmp / "summary.json", {
            "test_speakers": meta["test_speakers"], "train_speakers": meta["train_speakers"],
            "validation": validation_text(meta), "phones": meta["phones"], "word_labels": meta["word_labels"],
            "word_phones": meta["word_phones"],
            "gap_s": meta["gap_s"], "words_per_sequence": meta["words_per_sequence"], "sequences": meta["sequences"],
            "recordings": meta["recordings"], "seconds": meta["seconds"],
            "phones_per_test_sequence": first["data"]["phones_per_test_sequence"],
            "decode_seconds_per_test_set": seconds})
        ctc_figures.grouped_interval_bars(table, "test_per", tmp / "per.png",
                                   "phone error rate on unseen speakers (mean, 95% interval over seeds)", "PER")
        figures.history_panels(figures.variant_histories(results_dir, variants),
                               [figures.Panel("train_loss", "training CTC loss"),
                                figures.Panel("val_loss", "validation CTC loss"),
                                figures.Panel("val_per", "validation PER (greedy)")],
                               tmp / "curves.png", "training curves (thin: seeds, thick: their mean)")
        figs.write_clips(tmp, clips, int(meta["sample_rate"]))
    return table
