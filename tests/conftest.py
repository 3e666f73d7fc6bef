"""Shared fixtures: the repository, a temporary copy of it, and the local dataset mirror."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracked_files(root: Path = ROOT) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if (root / line).is_file()]


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "user.name=dlrepro tests", "-c", "user.email=tests@dlrepro.invalid",
                          *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout


def copy_project(dest: Path) -> Path:
    """The project's source files (what git tracks, no generated data) as a fresh git checkout."""
    for rel in tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "copy")
    return dest


def mirror_dir() -> Path | None:
    candidates = [os.environ.get("DLREPRO_MIRROR"), ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c and (Path(c) / "mnist").is_dir():
            return Path(c).resolve()
    return None


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture
def mirror() -> Path:
    found = mirror_dir()
    if found is None:
        pytest.skip("no dataset mirror: set DLREPRO_MIRROR or place the shared data at ../shared/data")
    return found
