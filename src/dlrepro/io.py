"""Atomic, byte-stable writes: a stage's output appears whole or not at all."""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(target: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of target; on success rename it onto target, else delete it.

    The rename is atomic for files; for directories the old one is moved aside first, so a
    reader sees either the old or the new tree, never a mix.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        os.chmod(tmp, 0o755)
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _remove_leftovers(target: Path) -> None:
    """Temporary siblings of target left by a killed run (kill -9 skips every cleanup).

    Each output has one producer, so nothing else writes these names while this one does.
    """
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*"):
        if stale.name.endswith(".tmp") or ".old-" in stale.name:
            shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_csv(path: str | Path, columns: list[str], rows: Iterable[Iterable], float_format: str | None = None) -> None:
    """A CSV table written without pandas (importing it costs every stage's start-up 0.2 s)."""

    def cell(value: Any) -> Any:
        return float_format % value if float_format and isinstance(value, float) else value

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(v) for v in row] for row in rows)


def write_history(path: str | Path, rows: list[dict], float_format: str | None = None) -> None:
    """history.csv from fit()'s per-epoch rows.

    Wall-clock `seconds` vary run to run: they are left out, so the file is byte-stable.
    """
    columns = [k for k in (rows[0] if rows else {}) if k != "seconds"]
    write_csv(path, columns, ([row.get(k) for k in columns] for row in rows), float_format)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_arrays(directory: str | Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    """Write arrays as .npy files (byte-stable, unlike .npz which stamps zip times) plus meta.json."""
    with atomic_path(directory, directory=True) as tmp:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta or {}, indent=2, sort_keys=True, default=_jsonable) + "\n")


def load_arrays(directory: str | Path, names: list[str]) -> dict[str, np.ndarray]:
    directory = Path(directory)
    missing = [n for n in names if not (directory / f"{n}.npy").is_file()]
    if missing:
        raise FileNotFoundError(f"{directory}: missing arrays {', '.join(missing)} (re-run the data stage)")
    return {n: np.load(directory / f"{n}.npy", allow_pickle=False) for n in names}
