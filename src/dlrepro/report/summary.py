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
        yield tmp


def copy_from_runs(results_dir: str | Path, variants: list[str], name: str, tmp: Path) -> None:
    """runs/<name> of every variant (a figure the page shows) as <stem>_<variant><suffix> in tmp."""
    for v in variants:
        source = Path(results_dir) / v / "runs" / name
        shutil.copyfile(source, tmp / f"{source.stem}_{v}{source.suffix}")
