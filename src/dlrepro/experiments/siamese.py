"""Siamese speaker verification (REFERENCE.md siamese-speaker), on speakers never seen in training.

The features stage fixed the speaker split and the pair lists (L positive and L negative pairs
per speaker and set). Twin encoders with tied weights (one module applied to both utterances:
a GRU or a BiLSTM over clean log magnitudes, mean-pooled, projected, unit norm) score a pair by
the cosine of the embeddings; a learnt scale and bias turn it into the probability "same
speaker", trained with cross-entropy. Validation pairs (validation speakers never trained on,
and unseen utterances of the training speakers) choose the epoch (best ROC AUC) and the cosine
threshold (best validation pair accuracy): with few training speakers the learnt bias, fit to
speakers the model knows, does not transfer to new ones, while the threshold from unseen
validation speakers does. On the test speakers' pairs: pair accuracy at that threshold (and, for
reference, at the model's own probability 0.5), ROC AUC and equal error rate (sklearn's
roc_curve) of the cosine, and one-shot identification: one random enrolment utterance per test
speaker, every other test utterance assigned to the closest enrolment, averaged over draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.io import load_arrays, read_json, write_csv, write_json
from dlrepro.models.speech import Siamese, SiameseEncoder
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import Split, evaluate, fit, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds
from dlrepro.train.speech import log_stats, padded
from dlrepro.train.verification import best_threshold, roc_eer

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

ARRAYS = ["clean_mag", "frame_offsets", "speaker", "pairs", "pair_set", "speaker_set", "utt_set"]


def one_shot(emb: np.ndarray, speakers: np.ndarray, draws: int, rng: np.random.Generator) -> float:
    """Identification accuracy with one random enrolment utterance per speaker, over draws."""
    names = np.unique(speakers)
    accs = []
    for _ in range(draws):
        enrol = np.array([rng.choice(np.flatnonzero(speakers == s)) for s in names])
        rest = np.setdiff1d(np.arange(len(speakers)), enrol)
        cosine = (emb[rest, None, :].astype(np.float64) * emb[None, enrol, :]).sum(-1)  # no BLAS: thread-independent
        guess = names[np.argmax(cosine, axis=1)]
        accs.append(np.mean(guess == speakers[rest]))
    return float(np.mean(accs))


def inputs(a: dict, device) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
    """The encoder's input statistics (from the training utterances) and every utterance's padded
    magnitudes and length, as the model sees them."""
    fo = a["frame_offsets"]
    train_utts = np.flatnonzero(a["utt_set"] == 0)
    train_frames = np.concatenate([a["clean_mag"][fo[i]:fo[i + 1]] for i in train_utts])
    scale = float(np.sqrt(np.mean(train_frames.astype(np.float64) ** 2)))
    mean, std = log_stats(train_frames / scale)
    lengths = np.diff(fo)
    mags, _ = padded(a["clean_mag"] / scale, fo, np.arange(len(lengths)), int(lengths.max()))
    return mean, std, torch.from_numpy(mags).to(device), torch.from_numpy(lengths).to(device)


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    a = load_arrays(data_dir, ARRAYS)
    meta = read_json(Path(data_dir) / "meta.json")
    m, t = values["model"], values["train"]
    mean, std, mags_t, lengths_t = inputs(a, device)

    def pairs(set_id: int) -> Split:
        p = torch.from_numpy(a["pairs"][a["pair_set"] == set_id]).to(device)
        return Split(p[:, :2], p[:, 2])

    train_split, val_split, test_split = pairs(0), pairs(1), pairs(2)
    test_utts = np.flatnonzero(a["utt_set"] == 2)

    @torch.no_grad()
    def cosines(model, split: Split) -> np.ndarray:
        model.eval()
        return model.cosine(split.x).float().cpu().numpy()

    val_labels, labels = val_split.y.cpu().numpy(), test_split.y.cpu().numpy()

    def val_score(model) -> dict:
        cos = cosines(model, val_split)
        return {"score": roc_eer(val_labels, cos)[2], "threshold_accuracy": best_threshold(val_labels, cos)[1]}

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        encoder = SiameseEncoder(m["kind"], m["hidden"], m["layers"], m["embedding"], mean, std)
        model = Siamese(encoder, mags_t, lengths_t).to(device)
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", score_fn=val_score)
        model.load_state_dict(result.best_state)
        threshold, val_accuracy = best_threshold(val_labels, cosines(model, val_split))
        cos = cosines(model, test_split)
        with torch.no_grad():
            emb = model.embed(torch.from_numpy(test_utts).to(device)).float().cpu().numpy()
        fpr, tpr, auc, eer = roc_eer(labels, cos)
        write_csv(seed_dir / "roc.csv", ["fpr", "tpr"], zip(fpr, tpr), "%.6g")
        if seed == t["seeds"][0]:
            torch.save(model.state_dict(), seed_dir / "model.pt")
        run = {"best_epoch": result.best_epoch, "threshold": threshold, "val_pair_accuracy": val_accuracy,
               "test_pair_accuracy": float(np.mean((cos > threshold) == labels)),
               "test_pair_accuracy_at_p05": evaluate(model, test_split)["accuracy"], "test_auc": auc, "test_eer": eer,
               "test_one_shot_accuracy": one_shot(emb, a["speaker"][test_utts], values["eval"]["one_shot_draws"],
                                                  np.random.default_rng(seed))}
        return run, result.history

    sets = {name: int((a["pair_set"] == i).sum()) for i, name in enumerate(("n_train", "n_val", "n_test"))}
    n_test_speakers = int((a["speaker_set"] == 2).sum())
    data = {"source": meta["source"], "dataset": f"speech_features: {len(a['speaker_set'])} speakers",
            **{k: f"{v} pairs" for k, v in sets.items()}, "train_speakers": int((a["speaker_set"] == 0).sum()),
            "val_speakers": meta["val_speakers"], "test_speakers": meta["test_speakers"]}
    kind = {"gru": "GRU", "bilstm": "BiLSTM"}[m["kind"]]
    setting = (f"tied twin {kind} {m['hidden']}×{m['layers']} encoders, mean-pooled, {m['embedding']}-d, cosine "
               f"similarity → sigmoid; {schedule_text(t)}; epoch and cosine threshold chosen on validation pairs; "
               f"{n_test_speakers} test speakers never seen in training")
    return run_seeds(label, values["train"]["seeds"], train_one, runs_dir, metrics_path, provenance_path,
                     params=values, summary={"test_pair_accuracy": (0, 1), "test_auc": (0, 1), "test_eer": (0, 1),
                                             "test_one_shot_accuracy": (0, 1), "test_pair_accuracy_at_p05": (0, 1)},
                     data=data, setting=setting, started=started, device=device,
                     extra={"one_shot_chance": 1 / n_test_speakers})


@torch.no_grad()
def listening_clips(data_dir: str | Path, results_dir: Path, metrics: dict[str, dict]) -> list[tuple[str, str, np.ndarray]]:
    """The first same-speaker and the first different-speaker test pair (speakers never trained on),
    each utterance a clip, the second row of a pair with every variant's score: the cosine of its
    first seed's saved model against that seed's threshold."""
    a = load_arrays(data_dir, ARRAYS + ["clean_wave", "offsets"])
    meta = read_json(Path(data_dir) / "meta.json")
    mean, std, mags, lengths = inputs(a, "cpu")
    test = a["pairs"][a["pair_set"] == 2]
    picks = [test[np.flatnonzero(test[:, 2] == label)[0]] for label in (1, 0)]
    scores = {}
    for v, mt in metrics.items():
        m, first = mt["params"]["model"], mt["per_seed"][0]
        model = Siamese(SiameseEncoder(m["kind"], m["hidden"], m["layers"], m["embedding"], mean, std), mags, lengths)
        model.load_state_dict(torch.load(results_dir / v / "runs" / f"seed{first['seed']}" / "model.pt",
                                         map_location="cpu", weights_only=True))
        model.eval()
        cos = model.cosine(torch.from_numpy(np.stack([p[:2] for p in picks]))).numpy()
        scores[v] = [(float(c), first["threshold"]) for c in cos]
    o, speakers = a["offsets"], meta["speakers"]
    clips = []
    for k, (pair, kind) in enumerate(zip(picks, ("same speaker", "different speakers"))):
        for n, u in enumerate(pair[:2]):
            label = f"pair {k + 1}, {kind}: utterance {n + 1} ({speakers[int(a['speaker'][u])]})"
            if n == 1:
                label += "; " + "; ".join(f"{v}: cosine {c:.2f} vs threshold {t:.2f}, says "
                                          f"{'same' if c > t else 'different'}" for v, (c, t) in
                                          ((v, s[k]) for v, s in scores.items()))
            clips.append((label, f"pair{k + 1}_utt{n + 1}", a["clean_wave"][o[u]:o[u + 1]]))
    return clips


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import figures
    from dlrepro.report import speech_figures as figs

    results_dir = Path(results_dir)
    metrics = {v: read_result(results_dir / v) for v in variants}
    rows, curves = [], {}
    for v, mt in metrics.items():
        acc = mt["test_pair_accuracy"]
        rows.append({"variant": v, "test_pair_accuracy": acc["mean"], "low": acc["low"], "high": acc["high"],
                     **{k: mt[k]["mean"] for k in ("test_auc", "test_eer", "test_one_shot_accuracy",
                                                   "test_pair_accuracy_at_p05")},
                     "eer_low": mt["test_eer"]["low"], "eer_high": mt["test_eer"]["high"], "seeds": acc["n"],
                     "one_shot_chance": mt["one_shot_chance"]})
        first = mt["per_seed"][0]
        roc = pd.read_csv(results_dir / v / "runs" / f"seed{first['seed']}" / "roc.csv")
        curves[f"{v} (seed {first['seed']})"] = (roc["fpr"].to_numpy(), roc["tpr"].to_numpy(), first["test_auc"],
                                                 first["test_eer"])
    table = pd.DataFrame(rows)
    data = next(iter(metrics.values()))["data"]
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        write_json(tmp / "summary.json", {k: data[k] for k in ("train_speakers", "val_speakers", "test_speakers")})
        figures.roc(curves, tmp / "roc.png", "verification ROC on unseen speakers")
        figs.write_clips(tmp, listening_clips(data_dir, results_dir, metrics), int(read_json(Path(data_dir) / "meta.json")["sample_rate"]))
    return table
