"""Shared fixtures: the repository, a temporary copy of it, and the local dataset mirror."""

from __future__ import annotations

import copy
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def edit_params(project: Path, change) -> dict[Path, str]:
    """change(params) on the merged params of a project; each section that changed is written
    back to its own file (params.yaml or params/<section>.yaml), the others are left untouched.
    Returns the files' old texts, for restore_files (DVC hashes the files, comments and all)."""
    from dlrepro import registry
    from dlrepro.config import read_params

    params, _ = read_params(project / registry.PARAMS)
    before = copy.deepcopy(params)
    change(params)
    changed = {registry.params_file(s) for s in params if params[s] != before.get(s)}
    texts = {project / name: (project / name).read_text() for name in changed if (project / name).is_file()}
    write_params(project, params, changed)
    return texts


def write_params(project: Path, params: dict, files: set[str] | None = None) -> None:
    """Each section into its file (params.yaml or params/<section>.yaml); only `files` if given."""
    import yaml

    from dlrepro import registry

    by_file: dict[str, dict] = {}
    for section, values in params.items():
        by_file.setdefault(registry.params_file(section), {})[section] = values
    for name, sections in by_file.items():
        if files is None or name in files:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(yaml.safe_dump(sections, sort_keys=False))


def restore_files(texts: dict[Path, str]) -> None:
    for path, text in texts.items():
        path.write_text(text)


def mirror_dir() -> Path | None:
    candidates = [os.environ.get("DLREPRO_MIRROR"), ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c and (Path(c) / "mnist").is_dir():
            return Path(c).resolve()
    return None


@pytest.fixture(autouse=True)
def seeded_globals():
    """Every test starts from the same global random state (Python's, numpy's and, once imported,
    torch's), so a test that draws unseeded inputs sees the same ones alone, in any order and under
    xdist: a failure reproduces."""
    random.seed(0)
    np.random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)


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
