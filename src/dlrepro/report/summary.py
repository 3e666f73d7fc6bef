"""A family's summary folder: everything its report page and the reference comparison read.

Pages read only results/<section>/summary/, never the variants' own folders, so each summarize
stage writes there what its page shows. variants.json holds every variant's result: its numbers
(metrics.json) and what describes them (provenance.json less the run: per-seed metrics, data,
params, setting, extras); provenance.json holds how each variant ran (commit, versions, device,
wall time) for the page's provenance table.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dlrepro.io import atomic_path, read_json, write_json
from dlrepro.train.provenance import RUN_KEYS, read_result

VARIANTS = "variants.json"
CURVES = "curves"  # one training history per variant (and setup), for `dvc plots show`


@contextmanager
def summary_folder(out_dir: str | Path, results_dir: str | Path, variants: list[str],
                   summary: dict | None = None) -> Iterator[Path]:
    """The summary folder, written atomically, starting with variants.json and provenance.json.

    summary: a result of the whole family (numbers, data, setting), listed in variants.json as
    the variant "summary" for the reference comparison.
    """
    results_dir = Path(results_dir)
    results = {v: read_result(results_dir / v) for v in variants}
    with atomic_path(out_dir, directory=True) as tmp:
        write_json(tmp / VARIANTS, results if summary is None else {**results, "summary": summary})
        runs = {v: read_json(results_dir / v / "provenance.json") for v in variants}
        write_json(tmp / "provenance.json", {v: {k: p[k] for k in RUN_KEYS if k in p} for v, p in runs.items()})
        copy_curves(results_dir, variants, tmp / CURVES)
        yield tmp


def copy_curves(results_dir: Path, variants: list[str], out: Path) -> None:
    """The first seed's history.csv of every variant as curves/<variant>.csv, or
    curves/<variant>_<setup>.csv where a variant trains several setups (runs/<setup>/seed<k>/).
    Nothing for a family without histories."""
    for v in variants:
        runs = results_dir / v / "runs"
        first = {}
        for history in sorted(runs.glob("**/seed*/history.csv"), key=lambda h: int(h.parent.name[4:])):
            first.setdefault(history.parent.parent, history)
        for setup, history in first.items():
            out.mkdir(exist_ok=True)
            name = v if setup == runs else f"{v}_{setup.relative_to(runs).as_posix().replace('/', '_')}"
            shutil.copyfile(history, out / f"{name}.csv")


def copy_from_runs(results_dir: str | Path, variants: list[str], name: str, tmp: Path) -> None:
    """runs/<name> of every variant (a figure the page shows) as <stem>_<variant><suffix> in tmp."""
    for v in variants:
        source = Path(results_dir) / v / "runs" / name
        shutil.copyfile(source, tmp / f"{source.stem}_{v}{source.suffix}")
