"""REFERENCE.md cgan-label: a label-conditional MLP GAN on MNIST, measured at every checkpoint.

The original printed its losses (D 0.317, G 1.016 at epoch 100) and showed samples. Here both
networks see the one-hot label beside their input (models.gan), and at every checkpoint the
generator draws a fixed, class-balanced set of digits (the same noise every checkpoint, at least as
many as the judge's reference half of the test set) that the judge (upstream: mnist-judge) reads:
its accuracy against the requested label, the Fréchet distance in its features (beside the
real-vs-real floor) and per-class diversity (beside the real digits'). The history holds them per
checkpoint with the losses per epoch; the last checkpoint's values are the seed's metrics.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from dlrepro.models import gan
from dlrepro.report.summary import copy_from_runs, summary_folder
from dlrepro.train.engine import start_stage
from dlrepro.train.gan import checkpoint_epochs, generate, train_gan
from dlrepro.train.generative import N_CLASSES, Judge, first_of_each_class, judge_provenance, measure, real_reference
from dlrepro.train.seeds import run_seeds
from dlrepro.train.splits import load_splits

log = logging.getLogger(__name__)

# Per-seed metrics summarised over seeds, with the range each can take.
SUMMARY = {"judge_accuracy": (0, 1), "frechet": (0, math.inf), "diversity": (0, math.inf),
           "d_loss": (0, math.inf), "g_loss": (0, math.inf)}
MEASURES = ("judge_accuracy", "frechet", "diversity")  # the checkpoint columns of the history
SHOWN_PER_CLASS = 10  # the final sample grid: this many digits per label (row)
PROGRESS_ROWS = 6  # checkpoints shown in the progress grid


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """N x 1 x 28 x 28 floats in [0, 1] as N x 28 x 28 bytes, what the grids are drawn from."""
    return (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def wrong_labels(condition: torch.Tensor) -> torch.Tensor:
    """For each one-hot label, another label drawn uniformly (torch's global generator): the
    mismatched pairs of the matching-aware discriminator (train.gan.discriminator_loss)."""
    labels = condition.argmax(1)
    shift = torch.randint(1, N_CLASSES, labels.shape, device=labels.device)
    return gan.one_hot((labels + shift) % N_CLASSES)


def fixed_samples(n_min: int, noise: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The labels (0, 1, ..., 9, 0, 1, ...: class-balanced, n_min rounded up to whole rounds of the
    classes) and the noise every checkpoint of every seed generates from (its own generator)."""
    n = math.ceil(n_min / N_CLASSES) * N_CLASSES
    labels = torch.arange(n) % N_CLASSES
    z = torch.randn(n, noise, generator=torch.Generator().manual_seed(seed))
    return labels.to(device), z.to(device)


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    started, device = start_stage(runtime)
    judge = Judge(upstream, label, device)
    train_split, val_split, test, _, data_meta = load_splits(data_dir, values["data"], device)
    real = real_reference(judge, test.x, test.y)
    m, t, e = values["model"], values["train"], values["eval"]
    labels, z = fixed_samples(max(e["samples"], real.n), m["noise"], e["noise_seed"], device)
    condition, fixed_condition = gan.one_hot(train_split.y), gan.one_hot(labels)
    checkpoints = checkpoint_epochs(t["epochs"], t["checkpoint_every"])
    shown = first_of_each_class(labels, SHOWN_PER_CLASS)
    sizes = {}

    def one_seed(seed: int, generator: torch.Generator, seed_dir: Path):
        gen, disc = gan.build(m, N_CLASSES)
        gen, disc = gen.to(device), disc.to(device)
        sizes.update(generator_parameters=gan.n_parameters(gen), discriminator_parameters=gan.n_parameters(disc))
        progress = []

        def checkpoint(epoch: int) -> dict:
            images = generate(gen, z, fixed_condition)
            progress.append(as_uint8(images[:N_CLASSES]))  # one digit per label, the same noise each time
            measured = measure(judge, images, labels, real)
            return {k: measured[k] for k in MEASURES}

        history = train_gan(gen, disc, train_split.x, condition, epochs=t["epochs"], batch_size=t["batch_size"],
                            lr=t["lr"], betas=t["betas"], generator=generator, checkpoint=checkpoint,
                            every=t["checkpoint_every"], mismatch=wrong_labels if t["mismatch"] else None,
                            desc=f"{label} seed {seed}")
        final = generate(gen, z[shown], fixed_condition[shown])
        np.save(seed_dir / "samples.npy", as_uint8(final).reshape(N_CLASSES, -1, 28, 28))
        np.save(seed_dir / "progress.npy", np.stack(progress))
        torch.save(gen.state_dict(), seed_dir / "generator.pt")
        last = history[-1]
        return {**{k: last[k] for k in MEASURES}, "d_loss": last["d_loss"], "g_loss": last["g_loss"],
                "d_real": last["d_real"], "d_fake": last["d_fake"]}, history

    def draw(runs_tmp: Path, _histories) -> None:
        from dlrepro.report import image_figures

        first = min(int(p.name[4:]) for p in runs_tmp.glob("seed*"))
        samples = np.load(runs_tmp / f"seed{first}" / "samples.npy")
        image_figures.image_grid(list(samples), [f"label {c}" for c in range(N_CLASSES)], runs_tmp / "samples.png",
                                 f"{label}: generated digits per requested label, epoch {t['epochs']} (seed {first})")
        progress = np.load(runs_tmp / f"seed{first}" / "progress.npy")
        rows = sorted({round(i) for i in np.linspace(0, len(progress) - 1, min(PROGRESS_ROWS, len(progress)))})
        image_figures.image_grid([progress[i] for i in rows], [f"epoch {checkpoints[i]}" for i in rows],
                                 runs_tmp / "progress.png",
                                 f"{label}: one digit per label at checkpoints, the same noise (seed {first})",
                                 col_names=[f"label {c}" for c in range(N_CLASSES)])

    data = {"source": data_meta["source"], "dataset": data_meta["dataset"], "n_train": len(train_split),
            "n_val": len(val_split),  # held out, unused (the split every MNIST family shares)
            "n_test": len(test), "n_generated": len(labels)}
    setting = (f"G {m['noise']}+10 → {m['generator']} → 784 sigmoid, D 784+10 → {m['discriminator']} → 1 "
               f"(LeakyReLU {m['slope']}, {'BatchNorm in G, ' if m['batchnorm'] else ''}dropout {m['dropout']}, label × {m['condition_scale']:g}"
               f"{', matching-aware D' if t['mismatch'] else ''}); Adam {t['lr']:g} betas {tuple(t['betas'])}, "
               f"batch {t['batch_size']}, {t['epochs']} epochs on {len(train_split)} images; measured every "
               f"{t['checkpoint_every']} epoch(s) on {len(labels)} class-balanced digits")
    extra = {**judge_provenance(judge, real), "sizes": sizes, "checkpoints": checkpoints}
    return run_seeds(label, t["seeds"], one_seed, runs_dir, metrics_path, provenance_path, summary=SUMMARY,
                     params=values, data=data, setting=setting, started=started, device=device, extra=extra,
                     finish=draw)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """variants.json, every variant's grids, histories.csv (every seed's history rows) and the
    progress curves over seeds."""
    import pandas as pd

    from dlrepro.io import read_json
    from dlrepro.report.figures import Panel, history_panels, seed_histories

    with summary_folder(out_dir, results_dir, variants) as tmp:
        for name in ("samples.png", "progress.png"):
            copy_from_runs(results_dir, variants, name, tmp)
        frames = []
        for v in variants:
            real = read_json(Path(results_dir) / v / "provenance.json")["real"]
            histories = seed_histories(Path(results_dir) / v / "runs")
            frames += [h.assign(variant=v, seed=s) for s, h in histories.items()]
            panels = [Panel("judge_accuracy", "judge accuracy (requested label)"),
                      Panel("frechet", "Fréchet distance (judge features)",
                            {f"real vs real floor {real['frechet_floor']:.2f}": real["frechet_floor"]}, log=True),
                      Panel("diversity", "per-class diversity",
                            {f"real digits {real['real_diversity']:.2f}": real["real_diversity"]}),
                      Panel("d_loss", "discriminator loss (epoch mean)"),
                      Panel("g_loss", "generator loss (epoch mean)"),
                      Panel("d_real", "D's mean P(real) on real digits")]
            history_panels({v: list(histories.values())}, panels, tmp / f"curves_{v}.png",
                           f"cgan-label {v}: measures at each checkpoint and losses per epoch, every seed")
        table = pd.concat(frames)
        cols = ["variant", "seed", "epoch", *MEASURES, "d_loss", "g_loss", "d_real", "d_fake"]
        table[cols].to_csv(tmp / "histories.csv", index=False, float_format="%.6g")
