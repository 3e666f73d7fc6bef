"""Face classification and verification with a ResNet (REFERENCE.md face-classify, face-verify).

One split per seed (data/faces.split): `holdout_people` whole identities are never trained on
and form the verification set; the other people's faces under the training lights train the
classifier (a share per person validates it: best epoch), and their faces under the other lights
are the classification test. The training lights are a seeded half of Yale B's 64 light
directions (`lights: random`: every test light is unseen, within the same range of angles), or
those within `train_max_angle` degrees of the camera axis (`lights: angle`: every test light is
harsher, Yale B's classic extrapolation). One trained classifier per seed serves both tasks:
classification of the known people under unseen lights; verification of every pair of the
held-out people's faces (all lights) by the cosine of the classifier's penultimate-layer
embeddings (ROC AUC, equal error rate). When the faces data holds Olivetti's (data/faces), every
pair of those 400 faces is scored the same way: 40 more people, never trained on, under even
light but varying pose and expression, another camera: a second, cross-corpus verification.

The baselines run on the same split and the same per-image normalised inputs: Eigenfaces (PCA +
nearest neighbour) and Fisherfaces (PCA + LDA + nearest neighbour), fit on every training-light
face of the known people (train and val: more than the ResNet trains on); their projections are
their embeddings for verification.

With `relight.per_person` > 0, each known person's illumination cone, rendered from their
training faces (data/faces.relit: photometric stereo, new lights, attached shadows), joins the
training faces of every method: the ResNet's and the baselines' alike, so the comparison stays
one of methods on the same data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dlrepro.data import faces
from dlrepro.io import load_arrays, read_json, write_csv, write_json
from dlrepro.models import resnet, subspace
from dlrepro.report.summary import summary_folder
from dlrepro.train.augment import Augmented
from dlrepro.train.engine import Split, evaluate, fit, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.seeds import run_seeds
from dlrepro.train.stats import mean_ci95
from dlrepro.train.verification import roc_eer

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs every training stage 0.2 s to start

ARRAYS = ["images", "person", "azimuth", "elevation"]
OLIVETTI = ["olivetti_images", "olivetti_person"]
CROSS = ("olivetti_verify_auc", "olivetti_verify_eer")  # the Olivetti verification's metrics, when it ran
METHODS = {"resnet": "ResNet", "eigenfaces": "Eigenfaces", "fisherfaces": "Fisherfaces"}
ROC_GRID = np.linspace(0, 1, 401)  # false positive rates at which each ROC is stored
HARSH = {"subset4": 3, "subset5": 4}  # Yale B subsets 4 (50-77 degrees) and 5 (> 77 degrees)
RELIGHT_STREAM = 1  # the renders' numpy stream beside the split's (default_rng(seed))


def seed_split(a: dict, sp: dict, seed: int) -> dict[str, np.ndarray]:
    """The split of one seed from the `split` params (data/faces.split)."""
    return faces.split(a["person"], a["azimuth"], a["elevation"], seed, sp["holdout_people"], sp["lights"],
                       sp["train_share"], sp["train_max_angle"], sp["val_fraction"])


def lights_text(sp: dict) -> str:
    if sp["lights"] == "angle":
        return f"trained on lights ≤ {sp['train_max_angle']}° from the camera axis, tested on the harsher ones"
    return (f"trained on a random {sp['train_share']:.0%} of the 64 light directions (drawn per seed), "
            "tested on the others")


def relight_text(r: dict) -> str:
    """What the `relight` params add to the training faces ("" when nothing)."""
    if not r["per_person"]:
        return ""
    return (f"{r['per_person']} illumination-cone renders a known person (photometric stereo from their training "
            f"faces, lights within {r['max_angle']:g}° of the camera axis) among every method's training faces")


def prefix(method: str) -> str:
    return "" if method == "resnet" else f"{method}_"


def cosine_scores(embeddings: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Cosine similarity of the pairs (i, j) of rows (float64, so no threshold moves with BLAS)."""
    e = embeddings.astype(np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return np.einsum("nd,nd->n", e[i], e[j])


def to_unit_range(images: np.ndarray, device) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) in [-1, 1] on the device (the augmentations' range)."""
    return torch.from_numpy(images).to(device).float().div(127.5).sub(1).unsqueeze(1)


@torch.no_grad()
def embed(model: resnet.ResNet, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    return torch.cat([model.embed(x[s:s + batch]).float() for s in range(0, len(x), batch)]).cpu().numpy()


def method_scores(name: str, predict, embedding: np.ndarray, y_test: np.ndarray, test_subset: np.ndarray,
                  pair_i: np.ndarray, pair_j: np.ndarray, same: np.ndarray) -> tuple[dict, np.ndarray]:
    """One method's per-seed metrics (test accuracy overall and per harsh subset, verification AUC
    and EER) and its ROC sampled on ROC_GRID."""
    correct = predict == y_test
    fpr, tpr, auc, eer = roc_eer(same, cosine_scores(embedding, pair_i, pair_j))
    p = prefix(name)
    run = {f"{p}test_accuracy": float(correct.mean()), f"{p}verify_auc": auc, f"{p}verify_eer": eer}
    for key, s in HARSH.items():
        run[f"{p}test_accuracy_{key}"] = float(correct[test_subset == s].mean()) if (test_subset == s).any() else float("nan")
    return run, np.interp(ROC_GRID, fpr, tpr)


def verify_metrics(name: str, embedding: np.ndarray, person: np.ndarray, key: str) -> dict:
    """AUC and EER of one method's embeddings over every pair of faces of `person`."""
    i, j, same = faces.pairs(person)
    _, _, auc, eer = roc_eer(same, cosine_scores(embedding, i, j))
    return {f"{prefix(name)}{key}_auc": auc, f"{prefix(name)}{key}_eer": eer}


def renders(a: dict, train: np.ndarray, relight: dict, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seed's illumination-cone renders (data/faces.relit) from the training faces only (validation
    stays unseen), drawn person by person from the seed's own stream: the summary redraws the first
    people's from their faces alone."""
    return faces.relit(a["images"][train], a["person"][train], a["azimuth"][train], a["elevation"][train],
                       relight["per_person"], relight["max_angle"], relight["ambient"],
                       np.random.default_rng([seed, RELIGHT_STREAM]))


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    a = load_arrays(data_dir, ARRAYS + OLIVETTI)
    meta = read_json(Path(data_dir) / "meta.json")
    sp, m, aug, t = values["split"], values["model"], values["augment"], values["train"]
    olivetti = to_unit_range(a["olivetti_images"], device) if len(a["olivetti_person"]) else None
    angle = faces.light_angle(a["azimuth"], a["elevation"])
    subset = faces.subset(angle)
    images = to_unit_range(a["images"], device)  # every face on the device; splits are index tensors
    # The baselines see the very inputs the ResNet's first layer sees (per-image normalisation).
    standardize = resnet.Standardize(m["input_norm"], m["dog_sigmas"])
    normalised = standardize(images.cpu()).numpy()
    olivetti_normalised = standardize(olivetti.cpu()).numpy() if olivetti is not None else None

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        s = seed_split(a, sp, seed)
        label_of = np.full(a["person"].max() + 1, -1)
        label_of[s["known"]] = np.arange(len(s["known"]))
        labels = torch.from_numpy(label_of[a["person"]]).to(device)

        def part(name: str) -> Split:
            idx = torch.from_numpy(s[name]).to(device)
            return Split(images[idx], labels[idx])

        train_split, val_split, test_split = part("train"), part("val"), part("test")
        # every method fits on the renders (none when relight is off): training faces like the others
        rendered, rendered_person, _ = renders(a, s["train"], values["relight"], seed)
        rendered_x = to_unit_range(rendered, device)
        train_split = Split(torch.cat([train_split.x, rendered_x]),
                            torch.cat([train_split.y, torch.from_numpy(label_of[rendered_person]).to(device)]))
        net = resnet.build(m, len(s["known"])).to(device)
        model = Augmented(net, aug["ops"], aug, generator)
        result = fit(model, train_split, val_split, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", loss_fn=resnet.loss_of(m), best_by=t["best_by"])
        model.load_state_dict(result.best_state)
        net.eval()
        y_test = label_of[a["person"][s["test"]]]
        i, j, same = faces.pairs(a["person"][s["verify"]])
        verify = torch.from_numpy(s["verify"]).to(device)
        with torch.no_grad():
            resnet_pred = torch.cat([net(test_split.x[k:k + 512]).argmax(1) for k in range(0, len(test_split), 512)])
        fitted = np.concatenate([s["train"], s["val"]])
        fitted_x = np.concatenate([normalised[fitted], standardize(rendered_x.cpu()).numpy()])
        fitted_y = label_of[np.concatenate([a["person"][fitted], rendered_person])]
        eigen = subspace.eigenfaces(fitted_x, fitted_y, values["baselines"]["eigen_components"])
        fisher = subspace.fisherfaces(fitted_x, fitted_y, values["baselines"]["fisher_components"])
        run = {"best_epoch": result.best_epoch, "val_accuracy": evaluate(net, val_split)["accuracy"],
               "held_out_people": [meta["people"][k] for k in s["held_out"]],
               "n_train": len(s["train"]), "n_rendered": len(rendered), "n_val": len(s["val"]), "n_test": len(s["test"]),
               "n_verify_images": len(s["verify"]), "n_pairs": len(same), "n_same_pairs": int(same.sum())}
        rocs = {}
        for name, predict, embedding in (
                ("resnet", resnet_pred.cpu().numpy(), embed(net, images[verify])),
                ("eigenfaces", eigen.predict(normalised[s["test"]]), eigen.embed(normalised[s["verify"]])),
                ("fisherfaces", fisher.predict(normalised[s["test"]]), fisher.embed(normalised[s["verify"]]))):
            scores, rocs[name] = method_scores(name, predict, embedding, y_test, subset[s["test"]], i, j, same)
            run.update(scores)
        if olivetti is not None:
            for name, embedding in (("resnet", embed(net, olivetti)), ("eigenfaces", eigen.embed(olivetti_normalised)),
                                    ("fisherfaces", fisher.embed(olivetti_normalised))):
                run.update(verify_metrics(name, embedding, a["olivetti_person"], "olivetti_verify"))
        write_csv(seed_dir / "roc.csv", ["fpr", *rocs], zip(ROC_GRID, *rocs.values()), "%.6g")
        if seed == t["seeds"][0]:
            torch.save(net.state_dict(), seed_dir / "model.pt")
        return run, result.history

    cross = CROSS if olivetti is not None else ()
    summary = {f"{prefix(k)}{metric}": (0, 1) for k in METHODS
               for metric in ("test_accuracy", "verify_auc", "verify_eer", *(f"test_accuracy_{h}" for h in HARSH),
                              *cross)}
    n_people = len(meta["people"])
    known = n_people - sp["holdout_people"]
    example = seed_split(a, sp, t["seeds"][0])
    data = {"source": meta["source"], "dataset": f"faces: {meta['n_images']} images of {n_people} people, "
            f"{'×'.join(map(str, meta['image_size']))} pixels", "n_train": f"{len(example['train'])} faces",
            "n_val": f"{len(example['val'])} faces", "n_test": f"{len(example['test'])} faces",
            "known_people": known, "held_out_people": sp["holdout_people"], "lights": lights_text(sp),
            "olivetti_people": int(len(np.unique(a["olivetti_person"])))}
    blocks = "-".join(map(str, m["blocks"]))
    renders_text = relight_text(values["relight"])
    setting = (f"ResNet with basic blocks {blocks} (ResNet-34's layout), widths {'-'.join(map(str, m['widths']))}, "
               f"{resnet.INPUT_NORMS[m['input_norm']]} greyscale input; {renders_text and renders_text + '; '}augmentation "
               f"{', '.join(aug['ops']) or 'none'}; {schedule_text(t)}, best epoch by validation {t['best_by']}; "
               f"{lights_text(sp)}; verification on {sp['holdout_people']} people never "
               "trained on, cosine of penultimate-layer embeddings over every pair of their faces")
    return run_seeds(label, t["seeds"], train_one, runs_dir, metrics_path, provenance_path, params=values,
                     summary=summary, data=data, setting=setting, started=started, device=device)


def misclassified(per_seed: list[dict]) -> dict[str, list[int]]:
    """Per seed: its test faces ("n_test") and each method's misclassified ones. Accuracies near 1
    hide how few faces separate two methods; the counts show it (and when a baseline leaves none)."""
    errors = {"n_test": [r["n_test"] for r in per_seed]}
    for method, name in METHODS.items():
        errors[name] = [round((1 - r[f"{prefix(method)}test_accuracy"]) * r["n_test"]) for r in per_seed]
    return errors


def paired_difference(per_seed: list[dict], metric: str, baseline: str) -> dict:
    """ResNet minus a baseline on the same seeds' splits: mean and 95% interval of the difference."""
    return mean_ci95([r[metric] - r[f"{baseline}_{metric}"] for r in per_seed])


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> pd.DataFrame:
    import pandas as pd

    from dlrepro.report import figures
    from dlrepro.report.image_figures import image_grid

    results_dir = Path(results_dir)
    metrics = {v: read_result(results_dir / v) for v in variants}
    rows, comparisons, curves = [], [], {}
    for v, mt in metrics.items():
        for method, name in METHODS.items():
            p = prefix(method)
            row = {"variant": v, "method": name, "seeds": mt[f"{p}test_accuracy"]["n"]}
            for metric in ("test_accuracy", *(f"test_accuracy_{h}" for h in HARSH), "verify_auc", "verify_eer",
                           *(CROSS if CROSS[0] in mt else ())):
                row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = (mt[f"{p}{metric}"][k] for k in ("mean", "low", "high"))
            rows.append(row)
        for baseline in ("eigenfaces", "fisherfaces"):
            for metric in ("test_accuracy", "verify_auc", *(CROSS[:1] if CROSS[0] in mt else ())):
                d = paired_difference(mt["per_seed"], metric, baseline)
                decided = d["low"] is not None and (d["low"] > 0 or d["high"] < 0)
                comparisons.append({"variant": v, "baseline": METHODS[baseline], "metric": metric,
                                    "resnet_minus_baseline": d["mean"], "low": d["low"], "high": d["high"],
                                    "seeds": d["n"], "verdict": ("beats" if d["low"] > 0 else "falls short")
                                    if decided else "inconclusive"})
        first = mt["per_seed"][0]
        roc = pd.read_csv(results_dir / v / "runs" / f"seed{first['seed']}" / "roc.csv")
        for method, name in METHODS.items():
            p = prefix(method)
            curves[f"{name} ({v})" if len(variants) > 1 else name] = (
                roc["fpr"].to_numpy(), roc[method].to_numpy(), first[f"{p}verify_auc"], first[f"{p}verify_eer"])
    table = pd.DataFrame(rows)
    first_variant = metrics[variants[0]]
    first_seed = first_variant["per_seed"][0]
    # the first seed's split of the first variant, shown as faces
    a = load_arrays(data_dir, ARRAYS + OLIVETTI)
    sp = first_variant["params"]["split"]
    angle = faces.light_angle(a["azimuth"], a["elevation"])
    s = seed_split(a, sp, first_seed["seed"])
    shown, names = [], []
    relight = first_variant["params"]["relight"]
    test_name = "test (harsher lights)" if sp["lights"] == "angle" else "test (unseen lights)"
    for part, what in (("train", "train"), ("val", "validation"), ("test", test_name),
                       ("verify", "verification (unseen people)")):
        idx = s[part]
        people = np.unique(a["person"][idx])[:2]
        for person in people:
            own = idx[a["person"][idx] == person]
            pick = own[np.linspace(0, len(own) - 1, min(8, len(own))).round().astype(int)]
            shown.append(a["images"][pick[np.argsort(angle[pick], kind="stable")]])
            names.append(f"{what}: person {person}")
        if part == "train" and relight["per_person"]:  # the renders these people trained with
            rendered, rendered_person, light = renders(a, idx[np.isin(a["person"][idx], people)], relight,
                                                       first_seed["seed"])
            for person in people:
                own = np.flatnonzero(rendered_person == person)[:8]
                shown.append(rendered[own[np.argsort(light[own], kind="stable")]])
                names.append(f"illumination-cone renders (train): person {person}")
    for person in np.unique(a["olivetti_person"])[:2]:
        shown.append(a["olivetti_images"][a["olivetti_person"] == person][:8])
        names.append(f"Olivetti (verification only): person {person}")
    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "results.csv", index=False, float_format="%.4f")
        pd.DataFrame(comparisons).to_csv(tmp / "comparisons.csv", index=False, float_format="%.4f")
        write_json(tmp / "summary.json", {
            "held_out_people_first_seed": first_seed["held_out_people"], "lights": lights_text(sp),
            "renders": relight_text(relight), "misclassified": {v: misclassified(mt["per_seed"]) for v, mt in metrics.items()}})
        image_grid(shown, names, tmp / "samples.png",
                   f"faces per split (seed {first_seed['seed']}), each Yale row sorted by light angle")
        figures.roc(curves, tmp / "roc.png", f"verification on unseen people (seed {first_seed['seed']})")
        bars = table.assign(variant=[f"{r.method}" if len(variants) == 1 else f"{r.method} ({r.variant})"
                                     for r in table.itertuples()])
        figures.interval_bars(bars, "test_accuracy", tmp / "accuracy.png",
                              "identification under unseen light (mean, 95% interval)", "test accuracy")
        figures.interval_bars(bars, "verify_auc", tmp / "auc.png",
                              "verification on unseen people (mean, 95% interval)", "ROC AUC")
    return table
