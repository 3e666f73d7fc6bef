"""REFERENCE.md cifar-augment: no augmentation vs brighten/darken, horizontal flip, random crop and
all together, on the 8.5k-parameter CNN and on the stronger small CNN.

Augmentation runs on whole batches on the device (dlrepro.train.augment) inside the training
forward pass only; validation and test images are never augmented.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlrepro.io import load_arrays
from dlrepro.report.summary import summary_folder
from dlrepro.train.augment import augment
from dlrepro.train.classify import train  # noqa: F401  (the family's train stage)
from dlrepro.train.provenance import read_result


def _labels(params: dict) -> tuple[str, str]:
    model = "8.5k CNN" if params["model"]["kind"] == "simple" else "strong CNN"
    ops = params.get("augment", {}).get("ops", [])
    return model, ("none" if not ops else "all" if len(ops) > 1 else ops[0])


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None):
    from dlrepro.report import image_figures

    with summary_folder(out_dir, results_dir, variants) as tmp:
        table = image_figures.summarize_variants(results_dir, variants, tmp, "cifar-augment")
        params = [read_result(Path(results_dir) / v)["params"] for v in variants]
        table["model"], table["augmentation"] = zip(*map(_labels, params))
        baseline = table[table["augmentation"] == "none"].set_index("model")["test_accuracy"]
        table["gain_over_none"] = table["test_accuracy"] - table["model"].map(baseline)
        table.to_csv(tmp / "results.csv", index=False, float_format="%.6f")
        image_figures.bars(table, tmp / "accuracy.png", "cifar-augment: test accuracy over seeds",
                           group="augmentation", by="model")
        # Ten curves in one panel were a bundle: one panel per augmentation, the models' runs without
        # augmentation dashed behind for comparison.
        panels: dict[str, dict[str, str]] = {}
        for v, model, aug in zip(table["variant"], table["model"], table["augmentation"]):
            panels.setdefault(aug, {})[model] = v
        none = panels.get("none", {})
        image_figures.curves_panels(results_dir, panels, tmp / "curves.png",
                                    "cifar-augment: validation accuracy per epoch (mean over seeds, band: min to max)",
                                    reference=none, reference_label="same model, no augmentation")
        # What each augmentation does to the same eight training images (seeded, as in training).
        settings = next((p["augment"] for p in params if p.get("augment", {}).get("ops")), None)
        if settings is not None:
            x = torch.from_numpy(load_arrays(data_dir, ["train_x"])["train_x"][:8]).float().div(127.5).sub(1)
            rows, names = [x], ["original"]
            for ops in (["brightness"], ["hflip"], ["crop"], ["brightness", "hflip", "crop"]):
                rows.append(augment(x, ops, torch.Generator().manual_seed(0), settings))
                names.append(" + ".join(ops))
            image_figures.image_grid([((r.numpy() + 1) / 2).astype(np.float32) for r in rows], names,
                                     tmp / "examples.png", "augmentations of the same training images")
    return table
