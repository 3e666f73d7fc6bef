"""Frame-level phoneme classification (REFERENCE.md frame-phoneme) on speakers seen and unseen.

Data: data/speech_alignment (FSDD force-aligned by pocketsphinx, or the generated speakers'
alignments): 40 log-mel bands per 10 ms frame, each frame labelled with its phone (silence
included) and its state (which third of the phone segment). The split (one seed, the same for
every variant and training seed): `test_speakers` speakers are held out entirely (the unseen
set); each other speaker's utterances are split into training, validation (`val_fraction`,
chooses the epoch) and the seen-speaker test set (`seen_test_fraction`). Whole utterances go to
one set, so no frame's context window holds a test frame during training.

Model: an MLP on the centre frame and `context` frames on each side (41 x 40 = 1640 inputs at
context 20, as the original), hidden layers Linear -> BatchNorm -> ReLU -> dropout, softmax over
the phone (or phone-state) classes, inputs normalised per band with the training frames' mean and
standard deviation (models/frame.ContextMLP gathers each window by index arithmetic). The best
validation epoch is tested once on the seen and the unseen speakers' frames. Baseline: scikit-
learn's logistic regression on the normalised centre frame alone, fit on the same training frames
(deterministic: one fit per stage, the same value in every seed's row). State predictions are also
scored as phones (state // states_per_phone), so the state variant compares with the phone ones.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.io import load_arrays, read_json, write_json
from dlrepro.models.frame import ContextMLP, pad_utterances
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, fit, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

log = logging.getLogger(__name__)
ARRAYS = ["speaker", "label", "logmel", "frame_offsets", "frame_phone", "frame_state"]
SETS = ("train", "val", "seen", "unseen")  # utterance sets: 0 train, 1 validation, 2 seen test, 3 unseen speakers
ACCURACIES = ("val_frame_accuracy", "seen_frame_accuracy", "unseen_frame_accuracy", "seen_phone_accuracy",
              "unseen_phone_accuracy", "baseline_seen_frame_accuracy", "baseline_unseen_frame_accuracy")


def split_utterances(speaker: np.ndarray, s: dict) -> np.ndarray:
    """Each utterance's set (index into SETS), from the split params and their seed alone."""
    speakers = np.unique(speaker)
    if not 0 < s["test_speakers"] < len(speakers):
        raise ValueError(f"frame_phoneme.split.test_speakers {s['test_speakers']}: need at least one test and one "
                         f"training speaker of the {len(speakers)}")
    if s["val_fraction"] + s["seen_test_fraction"] >= 1:
        raise ValueError(f"frame_phoneme.split: val_fraction {s['val_fraction']} + seen_test_fraction "
                         f"{s['seen_test_fraction']} leave no training utterances")
    rng = np.random.default_rng(s["seed"])
    unseen = rng.permutation(speakers)[:s["test_speakers"]]
    sets = np.full(len(speaker), 3, np.int64)
    for sp in speakers[~np.isin(speakers, unseen)]:  # one draw per speaker, in a fixed order
        utts = rng.permutation(np.flatnonzero(speaker == sp))
        n_val = max(1, round(len(utts) * s["val_fraction"]))
        n_seen = max(1, round(len(utts) * s["seen_test_fraction"]))
        if n_val + n_seen >= len(utts):
            raise ValueError(f"frame_phoneme.split: speaker {sp} has {len(utts)} utterances, too few to hold out "
                             f"{n_val} for validation and {n_seen} for the seen-speaker test")
        sets[utts] = 0
        sets[utts[:n_val]], sets[utts[n_val:n_val + n_seen]] = 1, 2
    return sets


def frame_sets(a: dict, split: dict) -> tuple[np.ndarray, np.ndarray]:
    """(each utterance's set, each frame's set)."""
    utt_set = split_utterances(a["speaker"], split)
    return utt_set, np.repeat(utt_set, np.diff(a["frame_offsets"]))


def normaliser(logmel: np.ndarray, train_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation of the training frames (float64 sums: thread-independent)."""
    x = logmel[train_frames].astype(np.float64)
    return x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-6).astype(np.float32)


def targets(a: dict, meta: dict, target: str) -> tuple[np.ndarray, int]:
    n_phones, states = len(meta["phones"]), int(meta["states_per_phone"])
    return (a["frame_phone"], n_phones) if target == "phone" else (a["frame_state"], n_phones * states)


def centre_baseline(x: np.ndarray, y: np.ndarray, sets: np.ndarray, n_classes: int, max_iter: int) -> dict:
    """Logistic regression on the (normalised) centre frames of the training set; each test set's accuracy
    and the predictions on the unseen speakers."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    train = sets == 0
    started = time.perf_counter()
    # One BLAS/OpenMP thread: the same result on any machine, and on a busy 2-core machine 20x faster
    # than threads waiting on each other (measured: 300 lbfgs iterations 14 s against 6 minutes).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the params' budget; the report says it
        clf = LogisticRegression(max_iter=max_iter).fit(x[train], y[train])
    out = {f"baseline_{name}_frame_accuracy": float(np.mean(clf.predict(x[sets == k]) == y[sets == k]))
           for k, name in ((2, "seen"), (3, "unseen"))}
    log.info("centre-frame logistic regression (%d classes present): seen %.4f, unseen %.4f (%.1f s)",
             len(clf.classes_), out["baseline_seen_frame_accuracy"], out["baseline_unseen_frame_accuracy"],
             time.perf_counter() - started)
    return out


@torch.no_grad()
def predict(model: torch.nn.Module, split: Split, batch_size: int = 4096) -> torch.Tensor:
    model.eval()
    return torch.cat([model(split.x[i:i + batch_size]).argmax(1) for i in range(0, len(split), batch_size)])


def confusion(true: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """counts[true, predicted]."""
    return np.bincount(true * n + pred, minlength=n * n).reshape(n, n)


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    a = load_arrays(data_dir, ARRAYS)
    meta = read_json(Path(data_dir) / "meta.json")
    m, t = values["model"], values["train"]
    states = int(meta["states_per_phone"]) if m["target"] == "state" else 1
    y, n_classes = targets(a, meta, m["target"])
    utt_set, sets = frame_sets(a, values["split"])
    mean, std = normaliser(a["logmel"], sets == 0)
    x = (a["logmel"] - mean) / std
    baseline = centre_baseline(x, y, sets, n_classes, values["baseline"]["max_iter"])
    padded, position = pad_utterances(x, a["frame_offsets"], m["context"])
    frames_t = torch.from_numpy(padded).to(device)
    splits = {name: Split(torch.from_numpy(position[sets == k]).to(device), torch.from_numpy(y[sets == k]).to(device))
              for k, name in enumerate(SETS)}
    n_phones = len(meta["phones"])
    frame_speaker = np.repeat(a["speaker"], np.diff(a["frame_offsets"]))

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        model = ContextMLP(frames_t, m["context"], m["hidden"], n_classes, m["dropout"], m["batchnorm"]).to(device)
        result = fit(model, splits["train"], splits["val"], epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}")
        model.load_state_dict(result.best_state)
        run = {"best_epoch": result.best_epoch,
               "val_frame_accuracy": result.history[result.best_epoch - 1]["val_accuracy"]}
        for name in ("seen", "unseen"):  # the test sets, touched once
            pred = predict(model, splits[name]).cpu().numpy()
            true = splits[name].y.cpu().numpy()
            run[f"{name}_frame_accuracy"] = float(np.mean(pred == true))
            run[f"{name}_phone_accuracy"] = float(np.mean(pred // states == true // states))
            if name == "unseen":
                np.save(seed_dir / "unseen_confusion.npy", confusion(true // states, pred // states, n_phones))
                np.save(seed_dir / "unseen_predicted_phone.npy", (pred // states).astype(np.int16))
                for sp in np.unique(frame_speaker[sets == 3]):  # each unseen speaker's frames
                    mine = frame_speaker[sets == 3] == sp
                    run[f"unseen_frame_accuracy_{meta['speakers'][sp]}"] = float(np.mean(pred[mine] == true[mine]))
        return {**run, **baseline}, result.history

    n_frames = {name: int((sets == k).sum()) for k, name in enumerate(SETS)}
    n_utts = {name: int((utt_set == k).sum()) for k, name in enumerate(SETS)}
    speakers = meta["speakers"]
    unseen = sorted({speakers[i] for i in a["speaker"][utt_set == 3]})
    data = {"source": meta["source"], "dataset": f"speech_alignment: {meta['n_kept']} of {meta['n_utterances']} "
                                                 f"utterances aligned ({meta['aligner']})",
            "n_train": f"{n_frames['train']} frames ({n_utts['train']} utterances)",
            "n_val": f"{n_frames['val']} frames ({n_utts['val']} utterances)",
            "n_test": f"{n_frames['seen']} seen-speaker + {n_frames['unseen']} unseen-speaker frames",
            "frames": n_frames, "utterances": n_utts, "unseen_speakers": unseen,
            "train_speakers": sorted(set(speakers) - set(unseen)) if len(speakers) <= 10 else len(speakers) - len(unseen),
            "classes": n_classes, "failed_alignments": meta["n_failed"]}
    width = 2 * m["context"] + 1
    setting = (f"MLP {width * a['logmel'].shape[1]} ({width} frames × {a['logmel'].shape[1]} log-mel bands to "
               f"{meta['mel_fmax_hz']:g} Hz) → "
               f"{' → '.join(map(str, m['hidden']))} → {n_classes} {m['target']} classes, BatchNorm "
               f"{'on' if m['batchnorm'] else 'off'}, dropout {m['dropout']}; {schedule_text(t)}; epoch chosen on "
               f"held-out utterances of the training speakers; {len(unseen)} unseen test speakers")
    return run_seeds(label, t["seeds"], train_one, runs_dir, metrics_path, provenance_path, params=values,
                     summary={k: (0, 1) for k in ACCURACIES}, data=data, setting=setting, started=started,
                     device=device, extra={"chance_majority_unseen": float(np.mean(y[sets == 3] == np.bincount(
                         y[sets == 0], minlength=n_classes).argmax()))})


def example_utterance(a: dict, utt_set: np.ndarray, predicted: np.ndarray) -> tuple[int, np.ndarray]:
    """The unseen-speaker utterance whose frame accuracy is the median one, and its predicted phones
    (predicted: the unseen frames' predicted phones in frame order)."""
    fo = a["frame_offsets"]
    unseen = np.flatnonzero(utt_set == 3)
    lengths = np.diff(fo)[unseen]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    correct = np.add.reduceat((predicted == a["frame_phone"][np.repeat(utt_set, np.diff(fo)) == 3]).astype(float),
                              starts) / lengths
    k = int(np.argsort(correct, kind="stable")[len(correct) // 2])
    return int(unseen[k]), predicted[starts[k]:starts[k] + lengths[k]]


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import frame_figures as figs

    results_dir = Path(results_dir)
    metrics = {v: read_result(results_dir / v) for v in variants}
    meta = read_json(Path(data_dir) / "meta.json")
    rows = []
    for v, mt in metrics.items():
        p = mt["params"]["model"]
        row = {"variant": v, "target": p["target"], "context": p["context"], "classes": mt["data"]["classes"]}
        for k in ("unseen_frame_accuracy", "seen_frame_accuracy"):
            row.update({k: mt[k]["mean"], f"{k}_low": mt[k]["low"], f"{k}_high": mt[k]["high"]})
        row.update({k: mt[k]["mean"] for k in ("unseen_phone_accuracy", "baseline_unseen_frame_accuracy",
                                                "baseline_seen_frame_accuracy", "val_frame_accuracy")})
        row.update({"seeds": mt["unseen_frame_accuracy"]["n"],
                    "best_epochs": " ".join(str(r["best_epoch"]) for r in mt["per_seed"]),
                    "per_seed_unseen": " ".join(f"{r['unseen_frame_accuracy']:.4f}" for r in mt["per_seed"])})
        rows.append(row)
    table = pd.DataFrame(rows)
    phone_rows = table[table["target"] == "phone"]
    # the headline model: phone targets with the widest context (context 20, the original's window)
    head = str((phone_rows if len(phone_rows) else table).sort_values("context", kind="stable").iloc[-1]["variant"])
    confusions = sum(np.load(results_dir / head / "runs" / f"seed{r['seed']}" / "unseen_confusion.npy")
                     for r in metrics[head]["per_seed"])
    a = load_arrays(data_dir, ARRAYS)
    utt_set, _ = frame_sets(a, values["split"])
    first = metrics[head]["per_seed"][0]["seed"]
    predicted = np.load(results_dir / head / "runs" / f"seed{first}" / "unseen_predicted_phone.npy").astype(np.int64)
    utt, pred = example_utterance(a, utt_set, predicted)
    fo = a["frame_offsets"]
    data = metrics[head]["data"]
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        np.savetxt(tmp / "unseen_confusion.csv", confusions, fmt="%d", delimiter=",")
        figs.confusion(confusions, meta["phones"], tmp / "confusion.png",
                       f"{head}: phones of unseen speakers (rows: true; {len(metrics[head]['per_seed'])} seeds summed)")
        figs.context_ablation(table[table["target"] == "phone"], tmp / "ablation.png",
                              "frame accuracy against context (phone targets)")
        figs.frame_example(a["logmel"][fo[utt]:fo[utt + 1]], a["frame_phone"][fo[utt]:fo[utt + 1]], pred,
                           meta["phones"], meta["frame_hop"] / meta["sample_rate"], tmp / "example.png",
                           f"unseen speaker {meta['speakers'][int(a['speaker'][utt])]}, "
                           f"'{meta['labels'][int(a['label'][utt])]}': true and predicted phones ({head}, seed {first})")
        write_json(tmp / "summary.json", {
            "source": meta["source"], "aligner": meta["aligner"], "phones": meta["phones"],
            "n_utterances": meta["n_utterances"], "n_kept": meta["n_kept"], "n_failed": meta["n_failed"],
            "failed": meta["failed"][:20], "phone_frames": meta["phone_frames"], "headline_variant": head,
            "failed_by_word": dict(Counter(f["word"] for f in meta["failed"]).most_common()),
            "failed_by_speaker": dict(Counter(f["speaker"] for f in meta["failed"]).most_common()),
            "unseen_speakers": data["unseen_speakers"], "train_speakers": data["train_speakers"],
            "frames": data["frames"], "utterances": data["utterances"],
            "chance_majority_unseen": metrics[head]["chance_majority_unseen"],
            "baseline_max_iter": metrics[head]["params"]["baseline"]["max_iter"]})
    return table
