"""Execute the report notebooks with papermill and render them to light, offline HTML pages.

Every template in the templates folder except index.ipynb is one experiment page, named after
its results folder, and reads only that folder's summary/; index.ipynb links them all and holds
the reference comparison (also read from the summaries). Pages run side by side, each in its own
process and kernel (`report.workers` at once); the index last.

The HTML holds only the pages' outputs (nbconvert's `basic` template: no require.js, MathJax or
font from a CDN, no 270 KB of notebook CSS per page) inside a small shell that links one shared
stylesheet, style.css. Figures carry alt text: the one a template gives (`Image(..., alt=...)`),
else their section's heading and first sentence. The executed notebooks go to their own folder,
not beside the HTML.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

from dlrepro.io import atomic_path

log = logging.getLogger(__name__)
INDEX = "index"
STYLESHEET = Path(__file__).with_name("style.css")
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<nav><a href="index.html">dlrepro report</a><span>profile {profile}</span></nav>
<main>
{body}
</main>
</body>
</html>
"""


def page_title(notebook: nbformat.NotebookNode) -> str:
    """The text of the notebook's first '# ' heading, without markdown code marks."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].replace("`", "").strip()
    return "dlrepro report"


def _first_sentence(text: str, limit: int = 200) -> str:
    text = re.sub(r"[*_`]", "", " ".join(text.split()))
    sentence = re.split(r"(?<=[.;:])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + " …"


def add_alt_text(notebook: nbformat.NotebookNode) -> None:
    """Give every image output without alt text its section's heading and first sentence."""
    caption = "Figure"
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.strip().splitlines()
            if lines and lines[0].startswith("#"):
                caption = lines[0].lstrip("#").replace("`", "").strip()
                rest = "\n".join(lines[1:]).strip()
                if rest:
                    caption += ": " + _first_sentence(rest)
            continue
        for output in cell.get("outputs", []):
            for mime in ("image/png", "image/jpeg", "image/svg+xml"):
                if mime in output.get("data", {}):
                    meta = output.setdefault("metadata", {}).setdefault(mime, {})
                    meta.setdefault("alt", caption)


def to_html(notebook: nbformat.NotebookNode, profile: str) -> str:
    add_alt_text(notebook)
    body, _ = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                           exclude_output_prompt=True).from_notebook_node(notebook)
    return PAGE.format(title=html.escape(page_title(notebook)), profile=html.escape(profile), body=body.strip())


def _execute(template: Path, html_dir: Path, notebook_dir: Path, parameters: dict, values: dict,
             profile: str) -> None:
    log.info("rendering %s", template.name)
    executed = notebook_dir / f"{template.stem}.ipynb"
    papermill.execute_notebook(str(template), str(executed), parameters=parameters,
                               kernel_name=values["kernel"], execution_timeout=values["cell_timeout_s"],
                               progress_bar=False, cwd=str(Path.cwd()))
    notebook = nbformat.read(executed, as_version=4)
    (html_dir / f"{template.stem}.html").write_text(to_html(notebook, profile))


def render_report(values: dict, profile: str, results: str | Path, reference: str | Path,
                  templates: str | Path, out: str | Path, notebooks: str | Path) -> Path:
    """reports/html (the pages and style.css) and, beside it, the executed notebooks."""
    templates = Path(templates)
    index = templates / f"{INDEX}.ipynb"
    if not index.is_file():
        raise FileNotFoundError(f"{index}: the report's index template is missing")
    pages = sorted(p for p in templates.glob("*.ipynb") if p.stem != INDEX)
    titles = {p.stem: page_title(nbformat.read(p, as_version=4)) for p in pages}
    workers = min(values["workers"] or len(os.sched_getaffinity(0)), max(len(pages), 1))
    with atomic_path(out, directory=True) as html_dir, atomic_path(notebooks, directory=True) as notebook_dir:
        shutil.copyfile(STYLESHEET, html_dir / STYLESHEET.name)
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_execute, page, html_dir, notebook_dir,
                                   {"summary_dir": str(Path(results) / page.stem / "summary"),
                                    "reference_csv": str(reference), "profile": profile}, values, profile)
                       for page in pages]
            for page, future in zip(pages, futures):
                try:
                    future.result()
                except Exception as exc:
                    exc.add_note(f"while rendering the report page {page}")
                    raise
        _execute(index, html_dir, notebook_dir, {"results_dir": str(results), "reference_csv": str(reference),
                                                 "profile": profile, "pages": titles}, values, profile)
    return Path(out) / f"{INDEX}.html"
