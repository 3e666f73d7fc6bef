"""Execute the report notebooks with papermill and render them to HTML with nbconvert.

Every template in the templates folder except index.ipynb is one experiment page, named after
its results folder, and reads only that folder's summary/; index.ipynb links them all and holds
the reference comparison (also read from the summaries). Pages run
side by side, each in its own process and kernel (`report.workers` at once); the index last.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

from dlrepro.io import atomic_path

log = logging.getLogger(__name__)
INDEX = "index"


def _execute(template: Path, out_dir: Path, parameters: dict, values: dict) -> None:
    log.info("rendering %s", template.name)
    executed = out_dir / f"{template.stem}.ipynb"
    papermill.execute_notebook(str(template), str(executed), parameters=parameters,
                               kernel_name=values["kernel"], execution_timeout=values["cell_timeout_s"],
                               progress_bar=False, cwd=str(Path.cwd()))
    notebook = nbformat.read(executed, as_version=4)
    html, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                           exclude_output_prompt=True).from_notebook_node(notebook)
    (out_dir / f"{template.stem}.html").write_text(html)


def render_report(values: dict, profile: str, results: str | Path, reference: str | Path,
                  templates: str | Path, out: str | Path) -> Path:
    templates = Path(templates)
    index = templates / f"{INDEX}.ipynb"
    if not index.is_file():
        raise FileNotFoundError(f"{index}: the report's index template is missing")
    pages = sorted(p for p in templates.glob("*.ipynb") if p.stem != INDEX)
    workers = min(values["workers"] or len(os.sched_getaffinity(0)), max(len(pages), 1))
    with atomic_path(out, directory=True) as tmp:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_execute, page, tmp, {"summary_dir": str(Path(results) / page.stem / "summary"),
                                                         "reference_csv": str(reference), "profile": profile}, values)
                       for page in pages]
            for page, future in zip(pages, futures):
                try:
                    future.result()
                except Exception as exc:
                    exc.add_note(f"while rendering the report page {page}")
                    raise
        _execute(index, tmp, {"results_dir": str(results), "reference_csv": str(reference), "profile": profile,
                              "pages": [p.stem for p in pages]}, values)
    return Path(out) / f"{INDEX}.html"
