"""Where a result came from: code version, values, library versions, device, wall time."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata

import torch

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


def provenance(values: dict, device: torch.device, wall_s: float, **extra) -> dict:
    status = _git("status", "--porcelain")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "command": sys.argv,
        "params": values,
        "versions": {"python": platform.python_version(), **{n: _version(n) for n in LIBRARIES}},
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch_threads": torch.get_num_threads(),
        "wall_s": round(wall_s, 3),
        **extra,
    }
