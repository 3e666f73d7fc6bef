"""REFERENCE.md cgan-center: the whole digit from its 10x10 centre patch, adversarial + λ·reconstruction.

The generator sees noise and the flattened centre patch (rows and columns 9 to 18); the
discriminator sees the whole image and the patch (a conditional discriminator, as pix2pix's), and
is matching-aware (train.mismatch: a real digit paired with another digit's patch is fake too),
so that it learns to tell a digit that does not fit its patch. The generator's loss is
adversarial + λ · reconstruction, the reconstruction being the mean squared error of the
generated centre against the given patch (`target: centre`; `image`: against the whole true
digit, pix2pix's choice, which pulls towards the blurred mean digit and learnt the patch more
slowly in our sizing runs). The original's reconstruction term had no gradient: the `detach`
variant reproduces that (the term is added to the loss, as printed, but carries no gradient, so
the generator trains as if λ were 0).

Measured on test images (the patch of each, one noise draw each, the same noise every checkpoint):
the judge's accuracy against the true label of the image the patch came from, centre consistency
(the mean squared error of the generated centre against the given patch), the mean squared error
against the whole true image, the Fréchet distance in the judge's features (beside the floor) and
per-class diversity.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro.models import gan
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import start_stage
from dlrepro.train.gan import Reconstruction, checkpoint_epochs, generate, train_gan
from dlrepro.train.generative import Judge, first_of_each_class, judge_provenance, measure, real_reference
from dlrepro.train.seeds import run_seeds
from dlrepro.train.splits import load_splits

log = logging.getLogger(__name__)

SUMMARY = {"centre_mse": (0, 1), "judge_accuracy": (0, 1), "image_mse": (0, 1), "frechet": (0, math.inf),
           "diversity": (0, math.inf), "d_loss": (0, math.inf), "g_adversarial": (0, math.inf)}
MEASURES = ("centre_mse", "judge_accuracy", "image_mse", "frechet", "diversity")
DRAWS = 8  # noise draws shown for one patch
TARGETS = ("image", "centre")


def centre(images: torch.Tensor, patch: dict) -> torch.Tensor:
    """The size x size patch at rows and columns start .. start + size - 1 of N x C x H x W images."""
    s, n = patch["start"], patch["size"]
    return images[..., s:s + n, s:s + n]


def only_centre(images: torch.Tensor, patch: dict) -> torch.Tensor:
    """The images blanked outside the patch: what the generator is given, drawn as a digit."""
    out = torch.zeros_like(images)
    s, n = patch["start"], patch["size"]
    out[..., s:s + n, s:s + n] = centre(images, patch)
    return out


def reconstruction(r: dict, patch: dict) -> Reconstruction:
    """The generator's reconstruction term from params: weight, target (image or centre), detach."""
    if r["target"] not in TARGETS:
        raise ValueError(f"unknown reconstruction target {r['target']!r} ({', '.join(TARGETS)})")
    if r["target"] == "image":
        def loss(fake: torch.Tensor, real: torch.Tensor, _condition: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(fake, real)
    else:
        def loss(fake: torch.Tensor, _real: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(centre(fake, patch).flatten(1), condition)
    return Reconstruction(loss, r["weight"], r["detach"])


def other_patches(condition: torch.Tensor) -> torch.Tensor:
    """Each image's neighbour's patch in the (shuffled) batch: the mismatched pairs of the
    matching-aware discriminator (train.gan.discriminator_loss)."""
    return condition.roll(1, 0)


def centre_mse(generated: torch.Tensor, given: torch.Tensor, patch: dict) -> float:
    """Centre consistency: the mean squared error of the generated centre against the given patch."""
    return F.mse_loss(centre(generated, patch).flatten(1), given.flatten(1)).item()


def as_uint8(images: torch.Tensor) -> np.ndarray:
    return (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    judge = Judge(upstream, label, device)
    train_split, val_split, test, _, data_meta = load_splits(data_dir, values["data"], device)
    real = real_reference(judge, test.x, test.y)
    m, t, e, p, r = values["model"], values["train"], values["eval"], values["patch"], values["reconstruction"]
    term = reconstruction(r, p)
    n_eval = len(test) if e["samples"] is None else min(len(test), max(e["samples"], real.n))
    eval_x, eval_y = test.x[:n_eval], test.y[:n_eval]
    eval_condition = centre(eval_x, p).flatten(1)
    noise = torch.Generator().manual_seed(e["noise_seed"])
    z = torch.randn(n_eval, m["noise"], generator=noise).to(device)
    shown = first_of_each_class(eval_y)
    z_draws = torch.randn(DRAWS, m["noise"], generator=noise).to(device)
    condition = centre(train_split.x, p).flatten(1)
    checkpoints = checkpoint_epochs(t["epochs"], t["checkpoint_every"])
    sizes = {}

    def one_seed(seed: int, generator: torch.Generator, seed_dir: Path):
        gen, disc = gan.build(m, p["size"] ** 2)
        gen, disc = gen.to(device), disc.to(device)
        sizes.update(generator_parameters=gan.n_parameters(gen), discriminator_parameters=gan.n_parameters(disc))

        def checkpoint(epoch: int) -> dict:
            images = generate(gen, z, eval_condition)
            measured = measure(judge, images, eval_y, real)
            return {"centre_mse": centre_mse(images, eval_condition, p),
                    "judge_accuracy": measured["judge_accuracy"],
                    "image_mse": F.mse_loss(images, eval_x).item(),
                    "frechet": measured["frechet"], "diversity": measured["diversity"]}

        history = train_gan(gen, disc, train_split.x, condition, epochs=t["epochs"], batch_size=t["batch_size"],
                            lr=t["lr"], betas=t["betas"], generator=generator, checkpoint=checkpoint,
                            every=t["checkpoint_every"], reconstruction=term,
                            mismatch=other_patches if t["mismatch"] else None, desc=f"{label} seed {seed}")
        np.save(seed_dir / "shown.npy", as_uint8(generate(gen, z[shown], eval_condition[shown])))
        np.save(seed_dir / "draws.npy", as_uint8(generate(gen, z_draws, eval_condition[shown[:1]].expand(DRAWS, -1))))
        torch.save(gen.state_dict(), seed_dir / "generator.pt")
        last = history[-1]
        return {**{k: last[k] for k in MEASURES}, "d_loss": last["d_loss"], "g_adversarial": last["g_adversarial"],
                "g_reconstruction": last["g_reconstruction"], "g_loss": last["g_loss"]}, history

    def save_given(runs_tmp: Path, _histories) -> None:
        """The shown test images and their patches, the same for every variant."""
        np.save(runs_tmp / "given.npy", np.stack([as_uint8(only_centre(eval_x[shown], p)), as_uint8(eval_x[shown])]))

    data = {"source": data_meta["source"], "dataset": data_meta["dataset"], "n_train": len(train_split),
            "n_val": len(val_split),  # held out, unused (the split every MNIST family shares)
            "n_test": len(test), "n_measured": n_eval}
    flaw = " (detached: no gradient, the original's flaw)" if r["detach"] else ""
    setting = (f"λ = {r['weight']:g}{flaw}, reconstruction: MSE against the {'whole true image' if r['target'] == 'image' else 'given patch'}; "
               f"G {m['noise']}+{p['size'] ** 2} → {m['generator']} → 784, D 784+{p['size'] ** 2} → {m['discriminator']} → 1"
               f"{' (matching-aware)' if t['mismatch'] else ''}; "
               f"Adam {t['lr']:g}, batch {t['batch_size']}, {t['epochs']} epochs on {len(train_split)} images")
    extra = {**judge_provenance(judge, real), "sizes": sizes, "checkpoints": checkpoints}
    return run_seeds(label, t["seeds"], one_seed, runs_dir, metrics_path, provenance_path, summary=SUMMARY,
                     params=values, data=data, setting=setting, started=started, device=device, extra=extra,
                     finish=save_given)


def _reconstruction_of(result: dict) -> dict:
    return result["params"]["reconstruction"]


def flaw_comparisons(results: dict[str, dict]) -> list[dict]:
    """Each detached variant beside the trained one with the same weight and target: both centre
    consistencies (mean and interval over seeds), and the paired per-seed difference
    (detached − trained; the seeds start from the same weights and batches)."""
    from dlrepro.train.stats import mean_ci95

    rows = []
    for flawed, f in results.items():
        rf = _reconstruction_of(f)
        if not rf["detach"]:
            continue
        for trained, g in results.items():
            rg = _reconstruction_of(g)
            if rg["detach"] or (rg["weight"], rg["target"]) != (rf["weight"], rf["target"]):
                continue
            ours = {s["seed"]: s["centre_mse"] for s in g["per_seed"]}
            pairs = [(s["centre_mse"], ours[s["seed"]]) for s in f["per_seed"] if s["seed"] in ours]
            diff = mean_ci95([a - b for a, b in pairs])
            beats = diff["low"] is not None and diff["low"] > 0
            rows.append({"trained": trained, "detached": flawed, "weight": rf["weight"], "target": rf["target"],
                         **{f"trained_{k}": g["centre_mse"][k] for k in ("mean", "low", "high")},
                         **{f"detached_{k}": f["centre_mse"][k] for k in ("mean", "low", "high")},
                         "difference": diff["mean"], "difference_low": diff["low"], "difference_high": diff["high"],
                         "seeds": len(pairs), "trained_beats_detached": beats})
    return rows


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """measures.csv (every variant's measures with intervals), flaw.csv (trained against detached),
    the grids (patch, true digit, each variant's completion), the bars and curves."""
    import pandas as pd

    from dlrepro.io import read_json
    from dlrepro.report import image_figures
    from dlrepro.report.figures import Panel, history_panels, interval_bars, variant_histories
    from dlrepro.train.provenance import read_result

    results_dir = Path(results_dir)
    results = {v: read_result(results_dir / v) for v in variants}
    real = read_json(results_dir / variants[0] / "provenance.json")["real"]
    rows = []
    for v, res in results.items():
        rec = _reconstruction_of(res)
        row = {"variant": v, "weight": rec["weight"], "target": rec["target"], "detach": rec["detach"]}
        for k in MEASURES:
            row.update({k: res[k]["mean"], f"{k}_low": res[k]["low"], f"{k}_high": res[k]["high"]})
        rows.append({**row, "seeds": res["centre_mse"]["n"], "frechet_floor": real["frechet_floor"],
                     "real_diversity": real["real_diversity"]})
    table = pd.DataFrame(rows)

    with summary_folder(out_dir, results_dir, variants) as tmp:
        table.to_csv(tmp / "measures.csv", index=False, float_format="%.6g")
        pd.DataFrame(flaw_comparisons(results)).to_csv(tmp / "flaw.csv", index=False, float_format="%.6g")
        interval_bars(table, "centre_mse", tmp / "centre_mse.png", "centre consistency (lower is better)",
                      "MSE on the given 10×10 patch (mean, 95% interval)", log=True)
        interval_bars(table, "judge_accuracy", tmp / "judge_accuracy.png", "judge accuracy against the true label",
                      "judge accuracy (mean, 95% interval)")
        interval_bars(table, "frechet", tmp / "frechet.png", "Fréchet distance to real test digits",
                      "Fréchet distance (mean, 95% interval)",
                      lines={f"real vs real floor {real['frechet_floor']:.2f}": real["frechet_floor"]})
        first = {v: min(s["seed"] for s in results[v]["per_seed"]) for v in variants}
        given = np.load(results_dir / variants[0] / "runs" / "given.npy")
        grid = [given[0], given[1], *(np.load(results_dir / v / "runs" / f"seed{first[v]}" / "shown.npy") for v in variants)]
        image_figures.image_grid(grid, ["given patch", "true digit", *variants], tmp / "completions.png",
                                 "the whole digit from its centre patch: the first test digit of each class "
                                 "(first seed of each variant, the same noise)")
        draws = [np.load(results_dir / v / "runs" / f"seed{first[v]}" / "draws.npy") for v in variants]
        image_figures.image_grid([given[0][:1], *draws], ["given patch", *variants],
                                 tmp / "draws.png", f"{DRAWS} noise draws for one patch (first seed of each variant)")
        panels = [Panel("centre_mse", "centre MSE (test)", log=True),
                  Panel("judge_accuracy", "judge accuracy (true label)"),
                  Panel("frechet", "Fréchet distance",
                        {f"real vs real floor {real['frechet_floor']:.2f}": real["frechet_floor"]}, log=True),
                  Panel("g_reconstruction", "reconstruction term (training, epoch mean)", log=True),
                  Panel("g_adversarial", "generator adversarial loss"),
                  Panel("d_loss", "discriminator loss")]
        history_panels(variant_histories(results_dir, variants), panels,
                       tmp / "curves.png", "cgan-center: test measures at each checkpoint and training losses per epoch")
