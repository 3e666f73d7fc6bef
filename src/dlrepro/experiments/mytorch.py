"""REFERENCE.md mytorch: the numpy library (dlrepro.mytorch, no autograd) trained beside torch.

Each variant trains one model twice, from the same initial weights, on the same batches, with the
same update rule: once in mytorch and once in torch (its twin, mytorch.proof.twins, loaded with
mytorch's initial weights; torch's step is train.optim's, torch.optim's rule). In float64 the two
stay together to rounding error, so their accuracies agree and the largest weight difference after
N steps measures how far the two libraries' arithmetic drifts apart. Each library's seconds per
step give the numpy/torch time ratio (in provenance, not metrics: timings vary run to run).

The summary also runs the library's proof, every check of mytorch.proof against torch, so the
page's proof table is what the code computes now, the same checks the unit tests assert.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from dlrepro.mytorch import conv, layers, loss, optim
from dlrepro.mytorch.mlp import MLP
from dlrepro.mytorch.module import Module
from dlrepro.mytorch.recurrent import GRUClassifier
from dlrepro.report.summary import summary_folder
from dlrepro.train.engine import OPTIMIZERS, cpu_threads, make_optimizer, start_stage
from dlrepro.train.seeds import run_seeds
from dlrepro.train.splits import load_splits

log = logging.getLogger(__name__)
CLASSES = 10
SIDE = 28  # MNIST (and the embedded stand-in) images are 28×28
EVAL_BATCH = 1000
LIBRARIES = ("mytorch", "torch")


def build(m: dict, rng: np.random.Generator, dtype) -> Module:
    """The variant's mytorch model, its weights drawn from rng (torch's initialisation)."""
    if m["kind"] == "mlp":
        return MLP([SIDE * SIDE, *m["hidden"], CLASSES], "relu", rng=rng, dtype=dtype)
    if m["kind"] == "cnn":
        stack, channels, side = [], 1, SIDE
        for width in m["channels"]:
            stack += [conv.Conv2d(channels, width, m["kernel"], rng=rng, dtype=dtype), layers.ReLU(), conv.MaxPool2d(2)]
            channels, side = width, (side - m["kernel"] + 1) // 2
        if side < 1:
            raise ValueError(f"mytorch cnn: {len(m['channels'])} blocks of {m['kernel']}×{m['kernel']} convolutions "
                             f"and 2×2 pooling leave nothing of a {SIDE}×{SIDE} image")
        return layers.Sequential(*stack, conv.Flatten(), layers.Linear(channels * side * side, CLASSES, rng=rng,
                                                                       dtype=dtype))
    if m["kind"] == "gru":
        return GRUClassifier(SIDE, m["gru_hidden"], CLASSES, rng, dtype=dtype)
    raise ValueError(f"mytorch: model.kind must be mlp, cnn or gru, got {m['kind']!r}")


def model_input(kind: str, images: np.ndarray) -> np.ndarray:
    """Images (N, 1, 28, 28) as the model reads them: flat rows for the MLP, the image for the CNN,
    the 28 rows as a sequence (T=28, N, 28 pixels) for the GRU."""
    if kind == "mlp":
        return images.reshape(len(images), -1)
    if kind == "gru":
        return images.reshape(len(images), SIDE, SIDE).transpose(1, 0, 2)
    return images


def describe(values: dict) -> str:
    m, t = values["model"], values["train"]
    k = m["kernel"]
    blocks = " → ".join(f"conv {c}@{k}×{k} → ReLU → max-pool 2" for c in m["channels"])
    model = {"mlp": f"MLP 784 → {' → '.join(map(str, m['hidden']))} (ReLU) → 10",
             "cnn": f"CNN {blocks} → linear 10",
             "gru": f"GRU {m['gru_hidden']} over the 28 rows → linear 10"}[m["kind"]]
    rule = t["optimizer"] + (f" {t['momentum']:g}" if t["optimizer"] == "momentum" else "")
    return (f"{model}; {rule}, lr {t['lr']:g} (constant), batch {t['batch_size']}, {t['epochs']} epochs, "
            f"{t['dtype']}; the same initial weights and batches in both libraries")


def _predict(forward, x: np.ndarray, kind: str) -> np.ndarray:
    """Class predictions in batches (the GRU's batch axis is the second)."""
    axis = 1 if kind == "gru" else 0
    parts = [forward(np.take(x, np.arange(i, min(i + EVAL_BATCH, x.shape[axis])), axis=axis))
             for i in range(0, x.shape[axis], EVAL_BATCH)]
    return np.concatenate(parts).argmax(axis=1)


def batch_of(kind: str, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return x[:, idx] if kind == "gru" else x[idx]


class Twins:
    """A model in mytorch and its torch twin: the same initial weights (drawn by mytorch from rng,
    copied into torch) and the same update rule (mytorch.optim and train.optim, both torch.optim's)."""

    def __init__(self, m: dict, t: dict, rng: np.random.Generator, dtype):
        import torch

        from dlrepro.mytorch.proof.twins import torch_twin

        if t["optimizer"] not in OPTIMIZERS:
            raise ValueError(f"mytorch: train.optimizer must be one of {', '.join(OPTIMIZERS)}, got {t['optimizer']!r}")
        self.torch, self.kind = torch, m["kind"]
        self.ours = build(m, rng, dtype)
        self.twin = torch_twin(self.ours)
        params = list(self.ours.parameters())
        if t["optimizer"] == "adam":
            self.ours_optimizer = optim.Adam(params, lr=t["lr"])
        else:
            momentum = t["momentum"] if t["optimizer"] == "momentum" else 0.0
            self.ours_optimizer = optim.SGD(params, lr=t["lr"], momentum=momentum)
        self.twin_optimizer = make_optimizer(t["optimizer"], self.twin.parameters(), t["lr"], t["momentum"])
        self.criterion = loss.SoftmaxCrossEntropy()

    def step_mytorch(self, x: np.ndarray, y: np.ndarray) -> float:
        batch_loss = self.criterion(self.ours(x), y)
        self.ours_optimizer.zero_grad()
        self.ours.backward(self.criterion.backward())
        self.ours_optimizer.step()
        return batch_loss

    def step_torch(self, x: np.ndarray, y: np.ndarray) -> float:
        torch = self.torch
        self.twin_optimizer.zero_grad()
        batch_loss = torch.nn.functional.cross_entropy(self.twin(torch.from_numpy(x)), torch.from_numpy(y))
        batch_loss.backward()
        self.twin_optimizer.step()
        return batch_loss.item()

    def weight_difference(self) -> float:
        """The largest absolute difference between a mytorch weight and its twin's."""
        return max(float(np.abs(p.data - q.detach().numpy()).max())
                   for p, q in zip(self.ours.parameters(), self.twin.parameters(), strict=True))

    def _twin_logits(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.twin(self.torch.from_numpy(x)).numpy()

    def accuracies(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Each twin's accuracy (evaluation mode), and the share of images both give the same class."""
        self.ours.eval(), self.twin.eval()
        predicted = {"mytorch": _predict(self.ours.forward, x, self.kind), "torch": _predict(self._twin_logits, x, self.kind)}
        self.ours.train(), self.twin.train()
        return {**{lib: float((p == y).mean()) for lib, p in predicted.items()},
                "agreement": float((predicted["mytorch"] == predicted["torch"]).mean())}


def train(data_dir: str | Path, values: dict, runtime: dict, runs_dir: str | Path, metrics_path: str | Path,
          provenance_path: str | Path, label: str, upstream: str | Path | None = None) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    started, device = start_stage(runtime)
    if device.type != "cpu":
        log.info("%s: mytorch runs on the CPU, so its torch twin does too", label)
    device = torch.device("cpu")
    # numpy's BLAS threads, like torch's, come from params: float sums depend on the thread count.
    threadpool_limits(cpu_threads(runtime["threads"]))
    m, t = values["model"], values["train"]
    dtype = {"float64": np.float64, "float32": np.float32}[t["dtype"]]
    splits = load_splits(data_dir, values["data"], device)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        (model_input(m["kind"], s.x.numpy().astype(dtype)), s.y.numpy()) for s in splits[:3])
    n = len(y_train)
    step_time: dict[str, dict] = {}

    def train_one(seed: int, generator: torch.Generator, seed_dir: Path):
        rng = np.random.default_rng(seed)
        twins = Twins(m, t, rng, dtype)
        steps = {lib: getattr(twins, f"step_{lib}") for lib in LIBRARIES}
        history, spent, losses, step = [], dict.fromkeys(LIBRARIES, 0.0), {lib: [] for lib in LIBRARIES}, 0
        last = t["epochs"] * -(-n // t["batch_size"])
        for epoch in range(1, t["epochs"] + 1):
            order = rng.permutation(n)
            for start in range(0, n, t["batch_size"]):
                idx = order[start:start + t["batch_size"]]
                x, y = batch_of(m["kind"], x_train, idx), y_train[idx]
                for lib in LIBRARIES:
                    clock = time.perf_counter()
                    losses[lib].append(steps[lib](x, y))
                    spent[lib] += time.perf_counter() - clock
                step += 1
                if step % t["eval_every"] == 0 or step == last:
                    val = twins.accuracies(x_val, y_val)
                    history.append({"step": step, "epoch": epoch,
                                    **{f"train_loss_{lib}": float(np.mean(losses[lib])) for lib in LIBRARIES},
                                    **{f"val_accuracy_{lib}": val[lib] for lib in LIBRARIES},
                                    "max_weight_difference": twins.weight_difference()})
                    losses = {lib: [] for lib in LIBRARIES}
        test = twins.accuracies(x_test, y_test)
        step_time[f"seed{seed}"] = {**{f"{lib}_ms_per_step": round(1000 * spent[lib] / step, 3) for lib in LIBRARIES},
                                    "time_ratio": round(spent["mytorch"] / spent["torch"], 3)}
        return {"test_accuracy_mytorch": test["mytorch"], "test_accuracy_torch": test["torch"],
                "accuracy_difference": test["mytorch"] - test["torch"], "test_agreement": test["agreement"],
                "val_accuracy_mytorch": history[-1]["val_accuracy_mytorch"],
                "val_accuracy_torch": history[-1]["val_accuracy_torch"],
                "max_weight_difference": history[-1]["max_weight_difference"], "steps": step}, history

    data_meta = splits[4]
    data = {"source": data_meta["source"], "dataset": data_meta["dataset"], "n_train": n, "n_val": len(y_val),
            "n_test": len(y_test)}
    summary = {"test_accuracy_mytorch": (0, 1), "test_accuracy_torch": (0, 1), "accuracy_difference": (-1, 1),
               "test_agreement": (0, 1), "max_weight_difference": (0, np.inf)}
    n_params = sum(p.data.size for p in build(m, np.random.default_rng(0), dtype).parameters())
    return run_seeds(label, t["seeds"], train_one, runs_dir, metrics_path, provenance_path, summary=summary,
                     params=values, data=data, setting=describe(values), started=started, device=device,
                     extra={"n_parameters": n_params, "step_time": step_time})


def proof_table(seeds: tuple[int, ...] = (0, 1, 2)):
    """Every check of the library's proof on inputs from each seed: per check, the quantities it
    compares and its largest relative error."""
    import pandas as pd

    from dlrepro.mytorch.proof import conv as conv_proof, layers as layers_proof, recurrent as recurrent_proof

    rows = []
    for part, checks in (("layers", layers_proof.CHECKS), ("convolution", conv_proof.CHECKS),
                         ("recurrent, CTC, decoding", recurrent_proof.CHECKS)):
        for check in checks:
            errors = [check.errors(seed) for seed in seeds]
            rows.append({"part": part, "module": check.module, "case": check.case, "quantities": len(errors[0]),
                         "seeds": len(seeds), "largest_relative_error": max(max(e.values()) for e in errors)})
    return pd.DataFrame(rows)


def summarize(data_dir: str | Path, results_dir: str | Path, variants: list[str], values: dict, runtime: dict,
              out_dir: str | Path, upstream: str | Path | None = None) -> None:
    """twins.csv (each variant's two accuracies, their difference, the share of test images both
    classify alike, the weight difference and the time ratio), proof.csv (every proof check now) and each variant's curves."""
    import pandas as pd

    from dlrepro.mytorch.proof.compare import TOLERANCE
    from dlrepro.train.provenance import read_result

    start_stage(runtime)
    rows = []
    for v in variants:
        r = read_result(Path(results_dir) / v)
        ratios = [s["time_ratio"] for s in r["step_time"].values()]
        row = {"variant": v, "setting": r["setting"], "parameters": r["n_parameters"]}
        for key in ("test_accuracy_mytorch", "test_accuracy_torch", "accuracy_difference", "test_agreement",
                    "max_weight_difference"):
            row |= {key: r[key]["mean"], f"{key}_low": r[key]["low"], f"{key}_high": r[key]["high"]}
        row |= {"seeds": r["test_accuracy_mytorch"]["n"], "time_ratio_median": float(np.median(ratios)),
                "time_ratio_min": min(ratios), "time_ratio_max": max(ratios)}
        rows.append(row)
    proof = proof_table()
    proof["within_tolerance"] = proof["largest_relative_error"] <= TOLERANCE
    with summary_folder(out_dir, results_dir, variants) as tmp:
        pd.DataFrame(rows).to_csv(tmp / "twins.csv", index=False, float_format="%.6g")
        proof.to_csv(tmp / "proof.csv", index=False, float_format="%.3g")
        for v in variants:
            twin_curves(results_dir, v, tmp / f"curves_{v}.png")


def twin_curves(results_dir: str | Path, variant: str, path: Path) -> None:
    """Both libraries' training loss and validation accuracy, and their largest weight difference, every seed."""
    from dlrepro.report import figures

    frames = list(figures.seed_histories(Path(results_dir) / variant / "runs").values())
    groups = {lib: [f[["step", f"train_loss_{lib}", f"val_accuracy_{lib}"]].set_axis(
        ["step", "train_loss", "val_accuracy"], axis=1) for f in frames] for lib in LIBRARIES}
    groups["|mytorch − torch|"] = [f[["step", "max_weight_difference"]] for f in frames]
    panels = [figures.Panel("train_loss", "training loss (mean since the last point)"),
              figures.Panel("val_accuracy", "validation accuracy"),
              figures.Panel("max_weight_difference", "largest weight difference", log=True)]
    figures.history_panels(groups, panels, path, f"mytorch/{variant}: mytorch and its torch twin ({len(frames)} seeds)",
                           x="step")
