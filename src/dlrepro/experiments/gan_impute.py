"""REFERENCE.md gan-impute: GAIN (Yoon et al., ICML 2018) fills in missing MNIST pixels, measured.

The original showed imputed samples only. Here every variant draws its masks (1 = observed,
0 = missing) once per split from `mask.seed`: `random` (each pixel missing independently with
probability `missing_rate`) or `block` (one `block_size`² square per image, anywhere in it). The
same masks serve GAIN (models/gain.py: generator, discriminator, the hint) and three baselines:
the per-pixel mean of the observed training values, scikit-learn's KNNImputer and
IterativeImputer (both fit on masked training images). On the same test images (the first
`eval.n_test`), each method is measured by the RMSE on the missing pixels (pixels in [0, 1]) and by
the judge CNN's accuracy on the imputed digits against their true labels, beside the judge on the
true digits (the ceiling) and on the masked input with missing pixels at 0.

The baselines depend only on the masks, so they are computed once per variant and reported with
every seed (their spread over seeds is 0); GAIN trains once per seed.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from dlrepro.models.gain import Gain, adversarial_loss, combine, discriminator_loss, hint, noise, observed_mse
from dlrepro.report.summary import copy_from_runs, summary_folder
from dlrepro.train import optim
from dlrepro.train.engine import cpu_threads, progress, start_stage
from dlrepro.train.seeds import run_seeds
from dlrepro.train.splits import load_splits

log = logging.getLogger(__name__)

SIDE = 28
SPLITS = ("train", "val", "test")  # each split's masks come from their own stream of mask.seed
BASELINES = ("mean", "knn", "iterative")
METHODS = ("gain", *BASELINES)
NAMES = {"gain": "GAIN", "mean": "mean imputation", "knn": "KNNImputer", "iterative": "IterativeImputer",
         "true": "true images (ceiling)", "masked": "masked input (missing = 0)"}


# ---- masks and the measure ---------------------------------------------------------------------


def mask_stream(seed: int, split: str) -> torch.Generator:
    """The generator of one split's masks: one stream per (mask.seed, split), independent of the
    training seed, so GAIN and every baseline see the same masks."""
    state = np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def draw_masks(n: int, mask: dict, split: str, side: int = SIDE) -> torch.Tensor:
    """n masks (n x side², float, 1 = observed) of the kind mask["kind"], from the split's stream.

    random: each pixel missing independently with probability missing_rate; block: one square of
    block_size x block_size pixels missing per image, its top-left corner uniform over every
    position where the square fits inside the image.
    """
    generator = mask_stream(mask["seed"], split)
    if mask["kind"] == "random":
        return (torch.rand(n, side * side, generator=generator) >= mask["missing_rate"]).float()
    if mask["kind"] == "block":
        size = mask["block_size"]
        if not 0 < size <= side:
            raise ValueError(f"mask.block_size {size} must be between 1 and {side}")
        top = torch.randint(side - size + 1, (n, 1), generator=generator)
        left = torch.randint(side - size + 1, (n, 1), generator=generator)
        pos = torch.arange(side)
        rows = (pos >= top) & (pos < top + size)            # [n, side]
        cols = (pos >= left) & (pos < left + size)
        return (~(rows[:, :, None] & cols[:, None, :])).float().flatten(1)
    raise ValueError(f"unknown mask.kind {mask['kind']!r} (random, block)")


def missing_rmse(x: torch.Tensor, imputed: torch.Tensor, m: torch.Tensor) -> float:
    """The root mean squared error over the missing entries (m = 0) only, pooled over all images."""
    missing = (1 - m).double()
    return float(((imputed.double() - x.double()) ** 2 * missing).sum().div(missing.sum().clamp(min=1)).sqrt())


# ---- baselines ---------------------------------------------------------------------------------


def mean_impute(fit_x: torch.Tensor, fit_m: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Each missing pixel set to that pixel's mean over the observed training values (a pixel never
    observed in training: the mean of every observed training value)."""
    count = fit_m.sum(0)
    overall = (fit_x * fit_m).sum() / fit_m.sum().clamp(min=1)
    mean = torch.where(count > 0, (fit_x * fit_m).sum(0) / count.clamp(min=1), overall)
    return combine(x, m, mean.expand_as(x))


def _with_nans(x: torch.Tensor, m: torch.Tensor) -> np.ndarray:
    out = x.detach().cpu().double().numpy().copy()
    out[m.cpu().numpy() == 0] = np.nan
    return out


def knn_impute(fit_x: torch.Tensor, fit_m: torch.Tensor, x: torch.Tensor, m: torch.Tensor,
               neighbours: int) -> torch.Tensor:
    """scikit-learn's KNNImputer: each missing pixel the mean of that pixel in the `neighbours`
    nearest training images that observe it (nan-Euclidean distance on the pixels both observe)."""
    from sklearn.impute import KNNImputer

    imputer = KNNImputer(n_neighbors=neighbours, keep_empty_features=True).fit(_with_nans(fit_x, fit_m))
    # keep_empty_features sets a pixel never observed in training to 0 in every image, observed
    # or not: the observed values are put back.
    return combine(x, m, torch.from_numpy(imputer.transform(_with_nans(x, m))).float().to(x.device))


def iterative_impute(fit_x: torch.Tensor, fit_m: torch.Tensor, x: torch.Tensor, m: torch.Tensor,
                     nearest: int, rounds: int, seed: int) -> torch.Tensor:
    """scikit-learn's IterativeImputer (chained BayesianRidge regressions, each pixel from its
    `nearest` most correlated pixels, `rounds` rounds over all pixels, mean start, values clipped
    to [0, 1]), fit on the masked training images and applied to x."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    from sklearn.exceptions import ConvergenceWarning

    imputer = IterativeImputer(n_nearest_features=nearest, max_iter=rounds, min_value=0.0, max_value=1.0,
                               random_state=seed, keep_empty_features=True, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol 0: every round runs, by design
        imputer.fit(_with_nans(fit_x, fit_m))
    return combine(x, m, torch.from_numpy(imputer.transform(_with_nans(x, m))).float().to(x.device))


def run_baselines(fit_x: torch.Tensor, fit_m: torch.Tensor, x: torch.Tensor, m: torch.Tensor, b: dict,
                  threads: int) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Every baseline's imputation of x and its seconds. scikit-learn's BLAS threads are set
    here, from params like torch's, never from the environment (results depend on them)."""
    from threadpoolctl import threadpool_limits

    imputed, seconds = {}, {}
    runs = {"mean": lambda: mean_impute(fit_x, fit_m, x, m),
            "knn": lambda: knn_impute(fit_x[:b["knn_fit"]], fit_m[:b["knn_fit"]], x, m, b["knn_neighbours"]),
            "iterative": lambda: iterative_impute(fit_x[:b["iterative_fit"]], fit_m[:b["iterative_fit"]], x, m,
                                                  b["iterative_nearest"], b["iterative_rounds"], b["seed"])}
    with threadpool_limits(limits=threads):
        for name, run in runs.items():
            started = time.perf_counter()
            imputed[name] = run()
            seconds[name] = round(time.perf_counter() - started, 3)
    return imputed, seconds


# ---- GAIN ---------------------------------------------------------------------------------------


@torch.no_grad()
def gain_impute(model: Gain, x: torch.Tensor, m: torch.Tensor, scale: float, seed: int,
                batch_size: int = 4096) -> torch.Tensor:
    model.eval()
    generator = torch.Generator(x.device).manual_seed(seed)
    out = [model.impute(x[i:i + batch_size], m[i:i + batch_size],
                        noise(tuple(x[i:i + batch_size].shape), scale, generator, x.device))
           for i in range(0, len(x), batch_size)]
    model.train()
    return torch.cat(out)


def train_gain(x: torch.Tensor, m: torch.Tensor, val_x: torch.Tensor, val_m: torch.Tensor, values: dict,
               seed: int, generator: torch.Generator, desc: str) -> tuple[Gain, list[dict]]:
    """GAIN on the masked training images x (n x d) with masks m; per epoch, the mean losses and
    the RMSE on the validation images' missing pixels. The last weights are kept (as the paper)."""
    g, t = values["gain"], values["train"]
    device = x.device
    model = Gain(x.shape[1], list(values["model"]["hidden"])).to(device)
    opt_d = optim.Adam(model.discriminator.parameters(), lr=t["lr"])
    opt_g = optim.Adam(model.generator.parameters(), lr=t["lr"])
    draws = torch.Generator(device).manual_seed(seed)  # noise and hints
    history = []
    for epoch in progress(range(1, t["epochs"] + 1), desc, "epoch"):
        order = torch.randperm(len(x), generator=generator).to(device)
        sums = torch.zeros(3, device=device)
        for start in range(0, len(x), t["batch_size"]):
            idx = order[start:start + t["batch_size"]]
            xb, mb = x[idx], m[idx]
            z = noise(tuple(xb.shape), g["noise"], draws, device)
            b, h = hint(g["hint"], mb, g["hint_rate"], draws)
            with torch.no_grad():
                proposal = model.propose(xb, mb, z)
            d_loss = discriminator_loss(model.discriminator(combine(xb, mb, proposal), h), mb, b, g["hint"])
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            proposal = model.propose(xb, mb, z)
            logits = model.discriminator(combine(xb, mb, proposal), h)
            adversarial, mse = adversarial_loss(logits, mb, b, g["hint"]), observed_mse(xb, proposal, mb)
            opt_g.zero_grad(set_to_none=True)
            (adversarial + g["alpha"] * mse).backward()
            opt_g.step()
            sums += torch.stack([d_loss.detach(), adversarial.detach(), mse.detach()]) * len(idx)
        means = (sums / len(x)).tolist()
        val_rmse = missing_rmse(val_x, gain_impute(model, val_x, val_m, g["noise"], seed), val_m)
        history.append({"epoch": epoch, "d_loss": means[0], "g_adversarial": means[1], "g_observed_mse": means[2],
                        "val_rmse": val_rmse})
        log.info("%s epoch %d/%d: D %.4f, G adversarial %.4f, observed MSE %.5f, val RMSE %.4f", desc, epoch,
                 t["epochs"], *means, val_rmse)
    return model, history


# ---- the stage ----------------------------------------------------------------------------------


def masked_view(x: torch.Tensor, m: torch.Tensor) -> np.ndarray:
    """Masked inputs as RGB images: observed pixels grey, missing ones blue."""
    grey = x.view(-1, 1, SIDE, SIDE).expand(-1, 3, -1, -1).clone()
    missing = (m.view(-1, 1, SIDE, SIDE) == 0).expand(-1, 3, -1, -1)
    blue = torch.tensor([0.2, 0.35, 0.75], device=x.device).view(1, 3, 1, 1).expand_as(grey)
    return torch.where(missing, blue, grey).cpu().numpy()


def describe(values: dict) -> str:
    mask, g, t, b = values["mask"], values["gain"], values["train"], values["baselines"]
    masks = (f"each pixel missing with probability {mask['missing_rate']:g}" if mask["kind"] == "random"
             else f"one {mask['block_size']}×{mask['block_size']} block missing per image, anywhere in it")
    hints = ("the paper's hint (one entry per row at 0.5, the losses on that entry)" if g["hint"] == "paper"
             else f"the authors' code's hint (Bernoulli({g['hint_rate']:g}), H = B⊙M, losses on every entry)")
    widths = " → ".join(str(w) for w in [2 * SIDE * SIDE, *values["model"]["hidden"], SIDE * SIDE])
    return (f"masks: {masks} (mask seed {mask['seed']}); GAIN: G and D MLPs {widths}, {hints}, α = {g['alpha']:g}, "
            f"noise U(0, {g['noise']:g}); Adam {t['lr']:g}, batch {t['batch_size']}, {t['epochs']} epochs, "
            f"last weights; baselines: per-pixel mean, KNNImputer (k = {b['knn_neighbours']}, "
            f"{b['knn_fit']} training images), IterativeImputer (BayesianRidge, {b['iterative_nearest']} nearest "
            f"features, {b['iterative_rounds']} round{'s' if b['iterative_rounds'] > 1 else ''}, fit on "
            f"{b['iterative_fit']} training images)")


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    """GAIN on every seed and the baselines on the same masks, all measured on the same test images."""
    import pandas as pd

    from dlrepro.report import figures
    from dlrepro.report.image_figures import image_grid
    from dlrepro.train.generative import Judge, first_of_each_class, judge_provenance

    started, device = start_stage(runtime)
    judge = Judge(upstream, label, device)
    train_split, val_split, test_split, _, data_meta = load_splits(data_dir, values["data"], device)
    e, b = values["eval"], values["baselines"]
    x = train_split.x.flatten(1)
    val_x = val_split.x[:e["n_val"]].flatten(1)
    test_x, test_y = test_split.x[:e["n_test"]].flatten(1), test_split.y[:e["n_test"]]
    m = draw_masks(len(train_split), values["mask"], "train").to(device)
    val_m = draw_masks(len(val_split), values["mask"], "val")[:len(val_x)].to(device)
    test_m = draw_masks(len(test_split), values["mask"], "test")[:len(test_x)].to(device)
    x_in = combine(x, m, torch.zeros_like(x))  # what training sees: no missing pixel's value

    def images(flat: torch.Tensor) -> torch.Tensor:
        return flat.view(-1, 1, SIDE, SIDE)

    imputed, baseline_seconds = run_baselines(x_in, m, test_x, test_m, b, cpu_threads(runtime["threads"]))
    fixed = {"true_judge_accuracy": judge.accuracy(images(test_x), test_y),
             "masked_judge_accuracy": judge.accuracy(images(combine(test_x, test_m, torch.zeros_like(test_x))), test_y),
             "missing_fraction": float(1 - test_m.mean())}
    for name in BASELINES:
        fixed[f"{name}_rmse"] = missing_rmse(test_x, imputed[name], test_m)
        fixed[f"{name}_judge_accuracy"] = judge.accuracy(images(imputed[name]), test_y)
    log.info("%s baselines: %s", label, ", ".join(f"{n} RMSE {fixed[f'{n}_rmse']:.4f}" for n in BASELINES))
    shown = first_of_each_class(test_y)
    rows = {"true": test_x[shown].view(-1, SIDE, SIDE).cpu().numpy(), "masked": masked_view(test_x[shown], test_m[shown])}
    first_gain = {}

    def one_seed(seed: int, generator: torch.Generator, _seed_dir: Path):
        model, history = train_gain(x_in, m, val_x, val_m, values, seed, generator, f"{label} seed {seed}")
        filled = gain_impute(model, test_x, test_m, values["gain"]["noise"], seed)
        if not first_gain:
            first_gain["images"] = filled[shown].view(-1, SIDE, SIDE).cpu().numpy()
        return {"gain_rmse": missing_rmse(test_x, filled, test_m),
                "gain_judge_accuracy": judge.accuracy(images(filled), test_y),
                "val_rmse": history[-1]["val_rmse"], **fixed}, history

    def draw(runs_tmp: Path, histories: dict[int, list[dict]]) -> None:
        grid = [rows["true"], rows["masked"], first_gain["images"],
                *(imputed[n][shown].view(-1, SIDE, SIDE).cpu().numpy() for n in BASELINES)]
        image_grid(grid, ["true", "masked input", "GAIN (first seed)", *(NAMES[n] for n in BASELINES)],
                   runs_tmp / "grid.png", f"{label}: the first test image of each digit (missing pixels blue)",
                   col_names=[str(int(c)) for c in test_y[shown].tolist()])
        baselines = {f"{NAMES[n]} (test)": fixed[f"{n}_rmse"] for n in BASELINES}
        panels = [figures.Panel("d_loss", "D cross-entropy"), figures.Panel("g_adversarial", "G adversarial loss"),
                  figures.Panel("g_observed_mse", "G MSE on observed pixels"),
                  figures.Panel("val_rmse", "validation RMSE (missing)", lines=baselines)]
        figures.history_panels({f"seed {s}": [pd.DataFrame(h)] for s, h in histories.items()}, panels,
                               runs_tmp / "curves.png", f"{label}: GAIN training", columns=4)

    # Every metric is an RMSE or an accuracy, in [0, 1].
    summary = {k: (0, 1) for k in ("gain_rmse", "mean_rmse", "knn_rmse", "iterative_rmse", "gain_judge_accuracy",
                                    "mean_judge_accuracy", "knn_judge_accuracy", "iterative_judge_accuracy",
                                    "true_judge_accuracy", "masked_judge_accuracy", "val_rmse")}
    data = {"dataset": data_meta["dataset"], "source": data_meta["source"], "n_train": len(train_split),
            "n_val": len(val_x), "n_test": len(test_x), "test_of": len(test_split)}
    return run_seeds(label, values["train"]["seeds"], one_seed, runs_dir, metrics_path, provenance_path,
                     summary=summary, params=values, data=data, setting=describe(values), started=started,
                     device=device, finish=draw,
                     extra={"baseline_seconds": baseline_seconds, **judge_provenance(judge)})


def measures_table(results_dir: str | Path, variants: list[str]):
    """One row per variant and method: RMSE on the missing pixels and the judge's accuracy, mean and
    95% interval over seeds (the baselines' and the ceiling's spread is 0: one set of masks)."""
    import pandas as pd

    from dlrepro.train.provenance import read_result

    rows = []
    for v in variants:
        result = read_result(Path(results_dir) / v)
        for method in (*METHODS, "true", "masked"):
            row = {"variant": v, "method": NAMES[method]}
            for measure in ("rmse", "judge_accuracy"):
                s = result.get(f"{method}_{measure}")
                row.update({measure: s and s["mean"], f"{measure}_low": s and s["low"],
                            f"{measure}_high": s and s["high"]})
            row["seeds"] = result["gain_rmse"]["n"]
            rows.append(row)
    return pd.DataFrame(rows)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """variants.json, measures.csv (every method on every variant) and each variant's grid and curves."""
    with summary_folder(out_dir, results_dir, variants) as tmp:
        measures_table(results_dir, variants).to_csv(tmp / "measures.csv", index=False, float_format="%.6f")
        for name in ("grid.png", "curves.png"):
            copy_from_runs(results_dir, variants, name, tmp)
