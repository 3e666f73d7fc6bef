"""REFERENCE.md pixel-rnn: complete the bottom half of a digit from its top half, patch by patch.

The image is 16 patches of 7x7 in raster order; stacked LSTMs (64/128/64) and a linear output
(sigmoid: pixels in [0, 1]) predict the next patch (models/pixel_rnn.py), trained on MNIST
training images either as it completes (train.inputs predicted: the bottom half's inputs are its
own predictions) or with teacher forcing (true), the best epoch picked by the MSE of completed
bottom halves on the validation split. Completion: the first 8 patches (the top half) of a test
image are given, the bottom 8 generated one after another, each prediction fed back in, the
whole batch at once.

Measured on test images: the MSE of the completed bottom halves against the true ones (per
pixel, in [0, 1]); the teacher-forced next-patch MSE (patches 2 to 16, each from the true
patches before it: what the original's "validation MSE 0.1061" most likely was); and the judge's
accuracy on the completed images against their true labels (the write-up claimed "98-99%"
without measuring it). Beside them, on the same images, two baselines without learning: the
bottom half of the mean training image, and the bottom half of the training image whose top half
is nearest (Euclidean); and as context the judge on the true images, the judge on the top halves
alone (bottom zeroed), and the top-half reader: the judge's CNN and schedule trained on top
halves alone. A completion adds nothing its top half does not hold, so the reader's accuracy
estimates the most any completion can reach (an estimate, not a bound: another reader could do
better). Baselines do not depend on the seed: their 95% intervals are over test images; the
model's are over seeds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from dlrepro.models import cnn
from dlrepro.models.pixel_rnn import FreeRunning, PatchLSTM, from_patches, to_patches
from dlrepro.report.summary import copy_from_runs, summary_folder
from dlrepro.train.engine import Split, fit, schedule_text, seed_everything, start_stage
from dlrepro.train.generative import N_CLASSES, Judge, first_of_each_class
from dlrepro.train.seeds import run_seeds
from dlrepro.train.stats import mean_ci95
from dlrepro.train.splits import load_splits

log = logging.getLogger(__name__)
SIZE = 28
BATCH = 4096  # images per forward pass when measuring

NO_MSE = {"mean": None, "low": None, "high": None}  # a row that completes no image
# What the measures table compares, in the page's order: (key, what it is).
METHODS = {
    "pixel_rnn": "pixel-rnn completion",
    "mean_image": "baseline: bottom half of the mean training image",
    "nearest_neighbour": "baseline: bottom half of the training image with the nearest top half",
    "top_half_only": "context: top half only (bottom zeroed)",
    "top_half_reader": "context: the judge's CNN trained on top halves alone (what the top half tells)",
    "true_images": "context: the true test images (the judge's ceiling)",
}


def top_rows(images: torch.Tensor) -> int:
    return images.shape[-2] // 2


def with_bottom(tops: torch.Tensor, bottoms: torch.Tensor) -> torch.Tensor:
    """Images with the top half of `tops` and the bottom half of `bottoms` (broadcast: one bottom for all)."""
    half = top_rows(tops)
    return torch.cat([tops[..., :half, :], bottoms[..., half:, :].expand_as(tops[..., half:, :])], -2)


def bottom_mse(completed: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Each image's mean squared error over its bottom-half pixels."""
    half = top_rows(true)
    return ((completed[..., half:, :].float() - true[..., half:, :].float()) ** 2).flatten(1).mean(1)


def nearest_by_top(train_images: torch.Tensor, query_images: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """For each query image, the index of the training image whose top half is nearest (Euclidean),
    queries `chunk` at a time (a chunk x train distance matrix at once)."""
    half = top_rows(train_images)
    keys = train_images[..., :half, :].flatten(1).float()
    out = []
    for start in range(0, len(query_images), chunk):
        queries = query_images[start:start + chunk, ..., :half, :].flatten(1).float()
        out.append(torch.cdist(queries, keys).argmin(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=query_images.device)


@torch.no_grad()
def complete_images(model: PatchLSTM, images: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """The images with their bottom halves generated from their top halves (model.complete)."""
    model.eval()
    patch = model.patch
    given = (images.shape[-2] // patch // 2) * (images.shape[-1] // patch)  # the patches of the top half
    out = [from_patches(model.complete(to_patches(images[i:i + batch], patch), given), patch, images.shape[-1])
           for i in range(0, len(images), batch)]
    return torch.cat(out)


@torch.no_grad()
def teacher_forced_mse(model: PatchLSTM, images: torch.Tensor, batch: int = BATCH) -> tuple[float, float]:
    """MSE per pixel of every predicted patch (2 to 16, each from the true patches before it), and
    of the bottom half's patches only."""
    model.eval()
    errors = []
    for i in range(0, len(images), batch):
        patches = to_patches(images[i:i + batch], model.patch)
        errors.append(((torch.sigmoid(model(patches).float()) - patches[:, 1:]) ** 2).mean(2))  # [n, P-1]
    per_patch = torch.cat(errors)  # column j: patch j + 1
    given = (per_patch.shape[1] + 1) // 2  # the top half's patches
    return per_patch.mean().item(), per_patch[:, given - 1:].mean().item()


def top_half_reader(judge: Judge, train: Split, val: Split, test_x: torch.Tensor, label: str) -> torch.Tensor:
    """The judge's CNN and schedule (its params and seed, best validation epoch) trained on images
    whose bottom half is zeroed; its predicted label for each of test_x's top halves. Without the
    judge's shifts: the reader reads real halves cut at one row, and shifts made it a weaker reader
    (real, validation accuracy 0.950 unshifted, 0.941 cut then shifted, 0.919 shifted then cut)."""
    blank = torch.zeros_like(train.x[:1])
    t = judge.params["train"]
    generator = seed_everything(judge.seed)
    model = cnn.build(judge.params["model"], 1, SIZE, N_CLASSES).to(train.x.device)
    result = fit(model, Split(with_bottom(train.x, blank), train.y), Split(with_bottom(val.x, blank), val.y),
                 epochs=t["epochs"], batch_size=t["batch_size"], optimizer=t["optimizer"], lr=t["lr"],
                 lr_schedule=t["lr_schedule"], generator=generator, desc=f"{label}: top-half reader",
                 max_steps=t.get("steps"))
    model.load_state_dict(result.best_state)
    model.eval()
    with torch.no_grad():
        return torch.cat([model(with_bottom(test_x[i:i + BATCH], blank)).argmax(1)
                          for i in range(0, len(test_x), BATCH)])


def judge_correct(judge, images: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """For each named set of images, whether the judge reads each image as its label (a bool per image)."""
    return {name: judge.predict(x) == labels for name, x in images.items()}


def per_class(correct: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> list[float]:
    return [correct[labels == c].double().mean().item() if (labels == c).any() else float("nan")
            for c in range(classes)]


# train.inputs: what the LSTM reads for the bottom half's patches in training
TRAINING_INPUTS = {"predicted": "with its own predictions fed back for the bottom half, as in completion",
                   "true": "with teacher forcing (the true patches as inputs)"}


def loss_function(name: str):
    """loss_fn(logits of patches 2..P, all P true patches, mask) for engine.fit: mse (on the
    sigmoid outputs) or bce (binary cross-entropy with the pixel intensities as targets)."""
    if name == "mse":
        return lambda logits, patches, _mask: F.mse_loss(torch.sigmoid(logits), patches[:, 1:])
    if name == "bce":
        return lambda logits, patches, _mask: F.binary_cross_entropy_with_logits(logits, patches[:, 1:])
    raise ValueError(f"unknown loss {name!r} (mse, bce)")


def describe(values: dict) -> str:
    m, t = values["model"], values["train"]
    how = TRAINING_INPUTS[t["inputs"]]
    return (f"{(SIZE // m['patch']) ** 2} patches of {m['patch']}×{m['patch']} in raster order (standardised), LSTM "
            f"{'/'.join(map(str, m['hidden']))} → linear {m['patch'] ** 2} (sigmoid, bias starting at the mean "
            f"pixel), {t['loss'].upper()} {how}; {schedule_text(t)}; best epoch by validation completion MSE")


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    import pandas as pd

    from dlrepro.report import figures, image_figures

    judge_label = f"{label}: the judge"
    started, device = start_stage(runtime)
    judge = Judge(upstream, judge_label, device)
    train_split, val_split, test_split, _, data_meta = load_splits(data_dir, values["data"], device)
    m, t, e = values["model"], values["train"], values["eval"]
    patch = m["patch"]
    if SIZE % (2 * patch):
        raise ValueError(f"{label}: patch {patch} must split 28 rows into two halves of whole patches")
    if t["inputs"] not in TRAINING_INPUTS:
        raise ValueError(f"{label}: train.inputs must be one of {', '.join(TRAINING_INPUTS)}, got {t['inputs']!r}")
    n_test = len(test_split) if e["n_test"] is None else min(e["n_test"], len(test_split))
    test_x, test_y = test_split.x[:n_test], test_split.y[:n_test]

    # the seed-free baselines and context, on the same test images
    mean_image = train_split.x.mean(0, keepdim=True)
    pixel_mean, pixel_std = train_split.x.mean().item(), train_split.x.std().item()
    nearest = nearest_by_top(train_split.x, test_x)
    fixed = {"mean_image": with_bottom(test_x, mean_image),
             "nearest_neighbour": with_bottom(test_x, train_split.x[nearest]),
             "top_half_only": with_bottom(test_x, torch.zeros_like(test_x[:1])),
             "true_images": test_x}
    fixed_correct = judge_correct(judge, fixed, test_y)
    fixed_correct["top_half_reader"] = top_half_reader(judge, train_split, val_split, test_x, label) == test_y
    # the baselines do not depend on the seed: their intervals are over test images
    baselines = {k: {"judge_accuracy": mean_ci95(fixed_correct[k].double().cpu().numpy(), (0, 1)),
                     "bottom_mse": (mean_ci95(bottom_mse(fixed[k], test_x).double().cpu().numpy(), (0, 1))
                                    if k in fixed else None)}  # the reader completes nothing
                 for k in fixed_correct}
    class_rows = [{"method": k, "seed": None, **dict(enumerate(per_class(c, test_y)))}
                  for k, c in fixed_correct.items()]
    log.info("%s baselines, judge accuracy: %s", label,
             ", ".join(f"{k} {b['judge_accuracy']['mean']:.4f}" for k, b in baselines.items()))

    # a few test digits per class for the sample grid: true, top half, completion, baselines
    shown = first_of_each_class(test_y, e["per_class"])
    grid = {"true": test_x[shown], "top half given": fixed["top_half_only"][shown]}

    patches = {name: to_patches(s.x, patch) for name, s in (("train", train_split), ("val", val_split))}
    train_patches = Split(patches["train"], patches["train"])
    val_patches = Split(patches["val"], patches["val"])
    loss_fn = loss_function(t["loss"])
    given = (SIZE // patch) ** 2 // 2  # the top half's patches

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        model = PatchLSTM(m["hidden"], patch, pixel_mean, pixel_std).to(device)
        trained = FreeRunning(model, given) if t["inputs"] == "predicted" else model

        def score(_):
            mse, _ = teacher_forced_mse(model, val_split.x)
            completion = bottom_mse(complete_images(model, val_split.x), val_split.x).mean().item()
            return {"score": -completion, "teacher_forced_mse": mse, "completion_mse": completion}

        result = fit(trained, train_patches, val_patches, epochs=t["epochs"], batch_size=t["batch_size"],
                     optimizer=t["optimizer"], lr=t["lr"], lr_schedule=t["lr_schedule"], generator=generator,
                     desc=f"{label} seed {seed}", loss_fn=loss_fn, score_fn=score)
        for row in result.history:
            row.pop("val_score")  # the negated val_completion_mse that picked the best epoch
        trained.load_state_dict(result.best_state)
        torch.save(model.state_dict(), seed_dir / "model.pt")
        completed = complete_images(model, test_x)
        correct = judge_correct(judge, {"pixel_rnn": completed}, test_y)["pixel_rnn"]
        class_rows.append({"method": "pixel_rnn", "seed": seed, **dict(enumerate(per_class(correct, test_y)))})
        if seed == t["seeds"][0]:
            grid["pixel-rnn completion"] = completed[shown]
        tf_all, tf_bottom = teacher_forced_mse(model, test_x)
        best = result.history[result.best_epoch - 1]
        return {"best_epoch": result.best_epoch, "val_completion_mse": best["val_completion_mse"],
                "completion_judge_accuracy": correct.double().mean().item(),
                "completion_mse": bottom_mse(completed, test_x).mean().item(),
                "teacher_forced_mse": tf_all, "teacher_forced_bottom_mse": tf_bottom}, result.history

    def write_figures(runs_tmp: Path, histories: dict[int, list[dict]]) -> None:
        grid["mean image"] = fixed["mean_image"][shown]
        grid["nearest neighbour"] = fixed["nearest_neighbour"][shown]
        names = list(grid)
        order = ["true", "top half given", "pixel-rnn completion", "mean image", "nearest neighbour"]
        rows = [grid[k].cpu().numpy() for k in order if k in names]
        image_figures.image_grid(rows, [k for k in order if k in names], runs_tmp / "completions.png",
                                 f"completing the bottom half from the top half ({e['per_class']} test digits per "
                                 f"class; pixel-rnn: seed {t['seeds'][0]})",
                                 col_names=[str(int(y)) for y in test_y[shown].cpu()])
        pd.DataFrame(class_rows).to_csv(runs_tmp / "per_class.csv", index=False, float_format="%.6f")
        panels = [figures.Panel("train_loss", "training loss"), figures.Panel("val_loss", "validation loss"),
                  figures.Panel("val_completion_mse", "val. MSE, completed half"),
                  figures.Panel("val_teacher_forced_mse", "val. MSE, next patch (teacher-forced)")]
        figures.history_panels({f"seed {s}": [pd.DataFrame(h)] for s, h in histories.items()}, panels,
                               runs_tmp / "curves.png", f"{label}: training", columns=4)

    data = {"source": data_meta["source"], "dataset": data_meta["dataset"], "n_train": len(train_split),
            "n_val": len(val_split), "n_test": n_test}
    setting = (f"{describe(values)}; the bottom {given} patches generated from the top {given} on "
               f"{'all' if n_test == len(test_split) else 'the first'} {n_test} test images, read by the judge")
    summary = {k: (0, 1) for k in ("completion_judge_accuracy", "completion_mse", "teacher_forced_mse",
                                    "teacher_forced_bottom_mse", "val_completion_mse")}
    n_params = sum(p.numel() for p in PatchLSTM(m["hidden"], patch).parameters())
    extra = {"baselines": baselines, "n_parameters": n_params,
             "judge": {"seed": judge.seed, "test_accuracy": judge.test_accuracy}}
    return run_seeds(label, t["seeds"], train_one, runs_dir, metrics_path, provenance_path, summary=summary,
                     params=values, data=data, setting=setting, started=started, device=device, extra=extra,
                     finish=write_figures)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """measures.csv (pixel-rnn, the baselines and the context rows, per variant), per-class judge
    accuracy, and each variant's sample grid and curves."""
    import pandas as pd

    from dlrepro.train.provenance import read_result

    rows, classes = [], []
    for v in variants:
        r = read_result(Path(results_dir) / v)
        for key, text in METHODS.items():
            if key == "pixel_rnn":
                acc, mse = r["completion_judge_accuracy"], r["completion_mse"]
                over = f"{acc['n']} seeds"
            else:
                acc, mse = r["baselines"][key]["judge_accuracy"], r["baselines"][key]["bottom_mse"] or NO_MSE
                over = f"{acc['n']} test images"
            rows.append({"variant": v, "method": key, "what": text, "judge_accuracy": acc["mean"],
                         "accuracy_low": acc["low"], "accuracy_high": acc["high"], "bottom_mse": mse["mean"],
                         "mse_low": mse["low"], "mse_high": mse["high"], "interval_over": over})
        table = pd.read_csv(Path(results_dir) / v / "runs" / "per_class.csv")
        means = table.drop(columns="seed").groupby("method").mean().reindex(list(METHODS)).reset_index()
        classes.append(means.assign(variant=v))
    with summary_folder(out_dir, results_dir, variants) as tmp:
        pd.DataFrame(rows).to_csv(tmp / "measures.csv", index=False, float_format="%.6f")
        pd.concat(classes).to_csv(tmp / "per_class.csv", index=False, float_format="%.6f")
        for name in ("completions.png", "curves.png"):
            copy_from_runs(results_dir, variants, name, tmp)

