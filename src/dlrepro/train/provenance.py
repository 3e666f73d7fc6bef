"""Where a result came from: code version, values, library versions, device, wall time.

provenance.json also holds what describes a result but is not a number summarised over seeds
(per-seed metrics, data, params, setting, extras): metrics.json stays numbers only, so that
`dvc metrics show` stays readable. read_result() puts the two back together.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from dlrepro.io import read_json, write_json

LIBRARIES = ("dlrepro", "torch", "numpy", "scikit-learn", "pandas", "librosa", "snakemake", "dvc")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; where that is missing, what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# What provenance() records about the run itself (the rest describes the result).
RUN_KEYS = ("git_commit", "git_dirty", "command", "versions", "platform", "device", "device_name", "cpu_kernels",
            "torch_threads", "wall_s", "train_seconds", "step_cost")


def provenance(values: dict, device: torch.device, wall_s: float, **extra) -> dict:
    """The run (RUN_KEYS), its params, and extra: timings (train_seconds, step_cost) or what
    describes the result (per_seed, data, setting, ...)."""
    status = _git("status", "--porcelain")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "command": sys.argv,
        "params": values,
        "versions": {"python": platform.python_version(), **{n: _version(n) for n in LIBRARIES}},
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        # the vector instructions torch's CPU kernels dispatch to: float sums, and so results, differ between them
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "wall_s": round(wall_s, 3),
        **extra,
    }


def keep_headline(metrics_path: str | Path, provenance_path: str | Path, headline: tuple[str, ...]) -> dict:
    """metrics.json keeps the headline metrics (dlrepro.registry); the stage's other summaries
    move to provenance.json, so `dvc metrics show` and `dvc exp show` stay readable. read_result()
    sees both as before. Returns the headline metrics."""
    metrics, described = read_json(metrics_path), read_json(provenance_path)
    missing = [k for k in headline if k not in metrics]
    if missing:
        raise ValueError(f"{metrics_path}: no headline metric {', '.join(missing)} (has {', '.join(metrics)})")
    rest = {k: v for k, v in metrics.items() if k not in headline}
    if rest:
        write_json(provenance_path, {**described, **rest})
        write_json(metrics_path, {k: metrics[k] for k in headline})
    return {k: metrics[k] for k in headline}


def read_result(stage_dir: str | Path) -> dict:
    """A stage's metrics.json and provenance.json less RUN_KEYS: its numbers and what describes them."""
    stage_dir = Path(stage_dir)
    described = {k: v for k, v in read_json(stage_dir / "provenance.json").items() if k not in RUN_KEYS}
    return {**read_json(stage_dir / "metrics.json"), **described}
