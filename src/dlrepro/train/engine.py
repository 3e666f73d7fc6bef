"""A small, fast training loop for data that fits in device memory.

The whole dataset sits on the device as tensors; each epoch draws one index permutation and
slices batches from it, so there is no per-sample Python, no DataLoader and no collate.
Seeded runs are bit-for-bit repeatable on the CPU.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dlrepro.train import optim

log = logging.getLogger(__name__)


@dataclass
class Split:
    """Inputs and targets (integer labels, or anything a loss_fn takes) of one split, on one device.

    mask, for padded sequences, is 1 where an element counts and 0 on padding; fit() and
    evaluate() hand its rows to the loss_fn, which must leave padding out of the loss.
    """

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict | None = None


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("runtime.device is cuda but CUDA is not available on this machine")
    return torch.device(name)


def cpu_threads(threads: int = 0) -> int:
    """The CPU threads torch uses: the given number, or 0 for every core this process may use.

    Never read from OMP_NUM_THREADS: Snakemake sets it per job and DVC does not, and float sums
    depend on the thread count, so results would differ between the tools.
    """
    return threads or len(os.sched_getaffinity(0))


def configure(threads: int = 0) -> None:
    """Deterministic kernels everywhere and a thread count fixed by params, not the environment."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True)
    else:
        # The same switch without importing torch._inductor (1-2 s at every stage start); that
        # import only sets the flag for torch.compile, which this project does not use.
        torch._C._set_deterministic_algorithms(True, warn_only=False)
    torch.backends.cudnn.benchmark = False
    torch.set_num_threads(cpu_threads(threads))


def start_stage(runtime: dict) -> tuple[float, torch.device]:
    """A stage's start: its start time (for provenance), determinism and the thread count from
    params.yaml's runtime, then its device."""
    started = time.perf_counter()
    configure(runtime["threads"])
    return started, pick_device(runtime["device"])


def schedule_text(t: dict) -> str:
    """One line saying how fit() trained: optimiser, schedule, length, batch."""
    length = f"{t['steps']} steps" if t.get("steps") else f"{t['epochs']} epochs"
    return f"{t['optimizer']} {t['lr']:g}, {t['lr_schedule']} schedule, {length}, batch {t['batch_size']}"


def progress(iterable, desc: str, unit: str):
    """A progress bar on a terminal (none in logs and under the workflow tools' pipes)."""
    return tqdm(iterable, desc=desc, unit=unit, disable=not sys.stderr.isatty(), leave=False)


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


OPTIMIZERS = ("adam", "sgd", "momentum")


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9) -> optim.Optimizer:
    """adam, sgd (plain), or momentum (SGD with heavy-ball momentum of the given coefficient)."""
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r} ({', '.join(OPTIMIZERS)})")


def make_schedule(name: str, optimizer: optim.Optimizer, total_steps: int) -> optim.Schedule:
    if name == "cosine":
        return optim.Schedule(optimizer, optim.cosine(total_steps))
    if name == "constant":
        return optim.Schedule(optimizer, lambda step: 1.0)
    raise ValueError(f"unknown lr_schedule {name!r} (cosine, constant)")


def _autocast(device: torch.device):
    # bf16 on GPU is safe for these classifiers (fp32 master weights, fp32 loss); CPU stays fp32.
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


# loss_fn(outputs, targets, mask or None) -> mean loss over the elements the mask keeps
LossFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def _rows(split: Split, idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    return split.x[idx], split.y[idx], None if split.mask is None else split.mask[idx]


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split, batch_size: int = 4096, loss_fn: LossFn | None = None) -> dict:
    """Mean cross-entropy and accuracy over a split; with loss_fn, its mean (batch-weighted) only."""
    model.eval()
    device = split.x.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for start in range(0, len(split), batch_size):
        x, y, mask = _rows(split, slice(start, start + batch_size))
        with _autocast(device):
            logits = model(x)
        if loss_fn is not None:
            loss_sum += loss_fn(logits.float(), y, mask) * len(y)
            continue
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    n = max(len(split), 1)
    return {"loss": loss_sum.item() / n} if loss_fn is not None else \
        {"loss": loss_sum.item() / n, "accuracy": correct.item() / n}


def train_step(model: torch.nn.Module, opt: optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               loss_fn: LossFn | None = None, mask: torch.Tensor | None = None):
    """One optimisation step on a batch; returns the detached loss and logits (outputs)."""
    with _autocast(x.device):
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y) if loss_fn is None else loss_fn(logits.float(), y, mask)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), logits.detach()


def fit(model: torch.nn.Module, train: Split, val: Split, *, epochs: int, batch_size: int,
        optimizer: str, lr: float, lr_schedule: str, generator: torch.Generator,
        desc: str = "train", momentum: float = 0.9, max_steps: int | None = None,
        param_groups: list[dict] | None = None, loss_fn: LossFn | None = None,
        score_fn: Callable[[torch.nn.Module], dict] | None = None, best_by: str = "accuracy") -> FitResult:
    """Train with shuffled mini-batches; keep the weights of the best validation epoch.

    The best epoch has the highest validation accuracy, ties going to the lower loss; with
    best_by "loss", the lowest validation loss (for a validation set so small that accuracy moves in
    coarse steps and its best epoch is a one-epoch spike).

    loss_fn replaces cross-entropy (no accuracy is then recorded); score_fn(model), when given,
    returns validation values stored as val_<name>, whose "score" (higher is better) picks the
    best epoch instead of validation accuracy and loss.

    max_steps, when given, ends training after that many optimiser steps (the last epoch may be
    partial; it is validated like the others). param_groups, when given, replaces
    model.parameters() (each group may set its own "lr", e.g. a smaller one for a pretrained trunk).
    """
    if best_by not in ("accuracy", "loss"):
        raise ValueError(f"fit: best_by is {best_by!r}, not accuracy or loss")
    device = train.x.device
    opt = make_optimizer(optimizer, param_groups if param_groups is not None else model.parameters(), lr, momentum)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    if max_steps is not None:
        epochs = min(epochs, math.ceil(max_steps / steps_per_epoch))
    total_steps = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    schedule = make_schedule(lr_schedule, opt, total_steps)
    step = 0
    result = FitResult()
    best_key = None
    bar = progress(range(1, epochs + 1), desc, "epoch")
    for epoch in bar:
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        lr_now = schedule.get_last_lr()[0]
        seen = 0
        for start in range(0, len(train), batch_size):
            if step == total_steps:
                break
            step += 1
            idx = order[start:start + batch_size]
            seen += len(idx)
            x, y, mask = _rows(train, idx)
            loss, logits = train_step(model, opt, x, y, loss_fn, mask)
            schedule.step()
            loss_sum += loss * len(idx)
            if loss_fn is None:
                correct += (logits.argmax(1) == y).sum()
        val_metrics = evaluate(model, val, loss_fn=loss_fn)
        row = {"epoch": epoch, "lr": lr_now, "train_loss": loss_sum.item() / seen}
        if loss_fn is None:
            row["train_accuracy"] = correct.item() / seen
        row.update({f"val_{k}": v for k, v in val_metrics.items()})
        if score_fn is not None:
            row.update({f"val_{k}": v for k, v in score_fn(model).items()})
        row["seconds"] = time.perf_counter() - started
        result.history.append(row)
        if score_fn is not None:
            key = (row["val_score"],)
        elif best_by == "loss":
            key = (-row["val_loss"],)
        else:
            key = (row.get("val_accuracy", 0.0), -row["val_loss"])
        if best_key is None or key > best_key:
            best_key, result.best_epoch = key, epoch
            result.best_state = copy.deepcopy(model.state_dict())
        shown = "score" if score_fn is not None else "accuracy" if loss_fn is None else "loss"
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", **{f"val_{shown}": f"{row[f'val_{shown}']:.4f}"})
        log.info("%s epoch %d/%d: train loss %.4f, val loss %.4f, val %s %.4f (%.1f s)", desc, epoch,
                 epochs, row["train_loss"], row["val_loss"], shown, row[f"val_{shown}"], row["seconds"])
    return result


def epoch_batches(n: int, batch_size: int, steps: int, generator: torch.Generator | None):
    """Index batches of `steps` steps: a fresh permutation per epoch (or, without a generator,
    the stored order every epoch); the last batch of an epoch may be short."""
    done = 0
    while done < steps:
        order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
        for start in range(0, n, batch_size):
            if done == steps:
                return
            yield order[start:start + batch_size]
            done += 1


def fit_steps(model: torch.nn.Module, train: Split, val: Split | None, batches, *, optimizer: str, lr: float,
              momentum: float = 0.9, eval_every: int = 0, on_step=None, desc: str = "train") -> list[dict]:
    """Train on a given stream of index batches (no selection by validation: the last weights stay).

    Returns one row per evaluation (every eval_every steps and after the last step): step, mean
    training loss and accuracy since the previous row, and validation loss and accuracy.
    on_step(step, model, loss) runs after every step, for diagnostics.
    """
    device = train.x.device
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum)
    rows, seen, step = [], 0, 0
    loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)

    def record():
        row = {"step": step, "train_loss": loss_sum.item() / max(seen, 1),
               "train_accuracy": correct.item() / max(seen, 1)}
        if val is not None:
            metrics = evaluate(model, val)
            row.update(val_loss=metrics["loss"], val_accuracy=metrics["accuracy"])
        rows.append(row)
        model.train()

    model.train()
    for step, idx in enumerate(progress(batches, desc, "step"), start=1):
        idx = idx.to(device)
        y = train.y[idx]
        loss, logits = train_step(model, opt, train.x[idx], y)
        if on_step is not None:
            on_step(step, model, loss)
        loss_sum += loss * len(idx)
        correct += (logits.argmax(1) == y).sum()
        seen += len(idx)
        if eval_every and step % eval_every == 0:
            record()
            loss_sum, seen = torch.zeros((), device=device), 0
            correct = torch.zeros((), device=device, dtype=torch.long)
    if not rows or rows[-1]["step"] != step:
        record()
    return rows
