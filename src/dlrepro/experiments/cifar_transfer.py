"""REFERENCE.md cifar-transfer: a self-supervised pretext task, then fine-tuning on 500 labels.

pretrain(): on the unlabelled images (the training set less the validation and labelled
images), a CNN learns which of three views it sees: the original, flipped upside down, or
rotated by 90 degrees. Each seed's trunk is saved.
train(): a variant either trains the same architecture from scratch on the labelled images,
or starts from the pretext trunk of the same seed (upstream: the pretext stage's folder) with a
new head, the trunk at trunk_lr_scale times the head's learning rate (0 freezes its weights;
BatchNorm statistics still adapt).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dlrepro.io import load_arrays
from dlrepro.models import cnn
from dlrepro.report.summary import summary_folder
from dlrepro.train import classify
from dlrepro.train.engine import Split, schedule_text, start_stage
from dlrepro.train.provenance import read_result
from dlrepro.train.splits import holdout_count, load_splits

PRETEXT = "pretext"  # the pretext stage's folder beside the variants'
PRETEXT_CLASSES = ("original", "flipped up-down", "rotated 90°")


def pretext_views(x: torch.Tensor) -> Split:
    """Every image three times, labelled 0 (as is), 1 (flipped upside down), 2 (rotated 90°)."""
    views = torch.cat([x, x.flip(-2), torch.rot90(x, 1, dims=(-2, -1))])
    labels = torch.arange(3, device=x.device).repeat_interleave(len(x))
    return Split(views, labels)


def pretrain(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
             provenance_path: str | Path, label: str) -> dict:
    started, device = start_stage(runtime)
    _, _, _, unlabelled, meta = load_splits(data_dir, values["data"], device)
    p = values["pretext"]
    n_val = holdout_count(p["val_size"], len(unlabelled))
    if not 0 < n_val < len(unlabelled):
        raise ValueError(f"pretext.val_size {n_val} must be between 1 and the {len(unlabelled) - 1} unlabelled images")
    pool = unlabelled.x[: p["n_images"] + n_val] if p["n_images"] else unlabelled.x
    val, train = pretext_views(pool[:n_val]), pretext_views(pool[n_val:])
    shape = tuple(train.x.shape[1:])

    def build(seed: int):
        model = cnn.build(values["model"], shape[0], shape[-1], len(PRETEXT_CLASSES)).to(device)
        return model, model, {}

    def save_trunk(model, seed_dir: Path) -> None:
        torch.save(model.trunk.state_dict(), seed_dir / "trunk.pt")

    # The pretext's own held-out views stand in for the test split: labels come for free.
    info = classify.data_info(meta, train, val, val, n_unlabelled_images=len(pool), task="pretext, 3 classes")
    setting = (f"pretext (original / flipped / rotated) on {len(pool) - n_val} unlabelled images; "
               f"{classify.describe_model(values['model'])}; {schedule_text(p['train'])}")
    return classify.run_seeds(label, (train, val, val), {**values, "train": p["train"]}, build, runs_dir,
                              metrics_path, provenance_path, info, setting, started, device, save=save_trunk)


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    train_split, val_split, test_split, _, meta = load_splits(data_dir, values["data"], device)
    f = values["finetune"]
    if f["init"] == "pretext" and upstream is None:
        raise ValueError(f"{label}: init pretext needs --upstream (the pretext stage's folder)")
    shape = tuple(train_split.x.shape[1:])

    def build(seed: int):
        model = cnn.build(values["model"], shape[0], shape[-1], classify.N_CLASSES).to(device)
        if f["init"] == "scratch":
            return model, model, {}
        trunk_file = Path(upstream) / "runs" / f"seed{seed}" / "trunk.pt"
        if not trunk_file.is_file():
            raise FileNotFoundError(f"{trunk_file}: no pretext trunk for seed {seed} (re-run the pretext stage)")
        model.trunk.load_state_dict(torch.load(trunk_file, map_location=device, weights_only=True))
        lr = values["train"]["lr"]
        groups = [{"params": model.head.parameters(), "lr": lr},
                  {"params": model.trunk.parameters(), "lr": lr * f["trunk_lr_scale"]}]
        return model, model, {"param_groups": groups}

    init = ("from scratch" if f["init"] == "scratch"
            else f"pretext trunk, trunk learning rate × {f['trunk_lr_scale']:g}")
    setting = (f"{len(train_split)} labelled images, {init}; {classify.describe_model(values['model'])}; "
               f"{schedule_text(values['train'])}")
    info = classify.data_info(meta, train_split, val_split, test_split)
    return classify.run_seeds(label, (train_split, val_split, test_split), values, build, runs_dir, metrics_path,
                              provenance_path, info, setting, started, device)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None):
    """The variants' table and figures, and the pretext stage's curves (it is listed in variants.json too)."""
    from dlrepro.report import image_figures

    with summary_folder(out_dir, results_dir, [*variants, PRETEXT]) as tmp:
        table = image_figures.summarize_variants(results_dir, variants, tmp, "cifar-transfer")
        inits = [read_result(Path(results_dir) / v)["params"]["finetune"] for v in variants]
        table["init"] = [i["init"] for i in inits]
        table["trunk_lr_scale"] = [i["trunk_lr_scale"] if i["init"] == "pretext" else None for i in inits]
        scratch = table.loc[table["init"] == "scratch", "test_accuracy"]
        table["gain_over_scratch"] = table["test_accuracy"] - (scratch.iloc[0] if len(scratch) else float("nan"))
        table.to_csv(tmp / "results.csv", index=False, float_format="%.6f")
        image_figures.curves(results_dir, [PRETEXT], tmp / "pretext_curves.png",
                             "pretext task: validation accuracy (3 classes)")
        x = torch.from_numpy(load_arrays(data_dir, ["test_x"])["test_x"][:8])
        views = pretext_views(x)
        image_figures.image_grid([views.x[i * 8:(i + 1) * 8].numpy() for i in range(3)], list(PRETEXT_CLASSES),
                                 tmp / "pretext_examples.png", "the pretext task's three classes")
    return table
