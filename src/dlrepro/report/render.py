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

A page whose inputs are unchanged since it was last rendered is reused from the page cache, as
Jupyter Book caches notebook executions: the key hashes the page's template, every file of its
summary folder, the reference table, what it runs with (profile, parameters, kernel, the report's
source files) and the versions of the libraries it renders with. One changed family re-runs one
page and the index (which reads every summary), not every page.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

from dlrepro.io import atomic_path

log = logging.getLogger(__name__)
INDEX = "index"
STYLESHEET = Path(__file__).with_name("style.css")
# What a page's rendering depends on besides its inputs and dlrepro's code (part of the cache key).
LIBRARIES = ("papermill", "nbconvert", "nbformat", "ipykernel", "matplotlib", "numpy", "pandas", "scikit-learn",
             "torch")
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


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def page_key(template: Path, parameters: dict, settings: dict) -> str:
    """The page cache's key: a sha256 over everything the page's HTML depends on."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    add("template", template.read_bytes())
    summary = Path(parameters["summary_dir"])
    for path in sorted(p for p in summary.rglob("*") if p.is_file()):
        add(f"summary/{path.relative_to(summary).as_posix()}", path.read_bytes())
    reference = Path(parameters["reference_csv"])
    add("reference", reference.read_bytes() if reference.is_file() else b"")
    add("settings", json.dumps({**settings, "parameters": parameters, "python": sys.version,
                                "libraries": {name: _installed(name) for name in LIBRARIES}},
                               sort_keys=True).encode())
    return digest.hexdigest()[:24]


def _cached(cache: Path, stem: str, key: str) -> tuple[Path, Path]:
    """A page's HTML and executed notebook in the cache."""
    return cache / f"{stem}-{key}.html", cache / f"{stem}-{key}.ipynb"


def _store(cache: Path, stem: str, key: str, html_dir: Path, notebook_dir: Path) -> None:
    """Copy a freshly rendered page into the cache (each file renamed into place whole)."""
    for source, target in zip((html_dir / f"{stem}.html", notebook_dir / f"{stem}.ipynb"), _cached(cache, stem, key)):
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


def _evict(cache: Path, keep: dict[str, str]) -> None:
    """Drop every cached file but the pages' current ones: the cache holds one render per page."""
    current = {name for stem, key in keep.items() for name in (f"{stem}-{key}.html", f"{stem}-{key}.ipynb")}
    for path in cache.glob("*"):
        if path.name not in current:
            path.unlink()


def _execute(template: Path, html_dir: Path, notebook_dir: Path, parameters: dict, values: dict,
             profile: str) -> None:
    log.info("rendering %s", template.name)
    executed = notebook_dir / f"{template.stem}.ipynb"
    papermill.execute_notebook(str(template), str(executed), parameters=parameters,
                               kernel_name=values["kernel"], execution_timeout=values["cell_timeout_s"],
                               progress_bar=False, cwd=str(Path.cwd()))
    notebook = nbformat.read(executed, as_version=4)
    for number, cell in enumerate(notebook.cells):
        # The HTML shows cell ids, and papermill and nbformat give random ones (to the cell papermill
        # injects, and to every cell of a template saved without ids): number them, so that the
        # same inputs render the same bytes.
        cell.id = f"cell-{number}"
    (html_dir / f"{template.stem}.html").write_text(to_html(notebook, profile))


def render_report(values: dict, profile: str, results: str | Path, reference: str | Path,
                  templates: str | Path, out: str | Path, notebooks: str | Path, cache: str | Path | None = None,
                  code: str = "") -> Path:
    """reports/html (the pages and style.css) and, beside it, the executed notebooks.

    cache: the page cache's folder (None: render every page); code: the report's source files
    and their hashes, part of each page's key.
    """
    templates, cache = Path(templates), None if cache is None else Path(cache)
    index = templates / f"{INDEX}.ipynb"
    if not index.is_file():
        raise FileNotFoundError(f"{index}: the report's index template is missing")
    pages = sorted(p for p in templates.glob("*.ipynb") if p.stem != INDEX)
    titles = {p.stem: page_title(nbformat.read(p, as_version=4)) for p in pages}
    parameters = {p.stem: {"summary_dir": str(Path(results) / p.stem / "summary"), "reference_csv": str(reference),
                           "profile": profile} for p in pages}
    settings = {"kernel": values["kernel"], "cell_timeout_s": values["cell_timeout_s"], "code": code}
    keys = {p.stem: page_key(p, parameters[p.stem], settings) for p in pages} if cache is not None else {}
    reused = [p for p in pages if keys and all(f.is_file() for f in _cached(cache, p.stem, keys[p.stem]))]
    fresh = [p for p in pages if p not in reused]
    workers = min(values["workers"] or len(os.sched_getaffinity(0)), max(len(fresh), 1))
    with atomic_path(out, directory=True) as html_dir, atomic_path(notebooks, directory=True) as notebook_dir:
        shutil.copyfile(STYLESHEET, html_dir / STYLESHEET.name)
        for page in reused:
            log.info("%s: inputs unchanged since its last render, reused", page.name)
            html_file, notebook_file = _cached(cache, page.stem, keys[page.stem])
            shutil.copyfile(html_file, html_dir / f"{page.stem}.html")
            shutil.copyfile(notebook_file, notebook_dir / f"{page.stem}.ipynb")
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_execute, page, html_dir, notebook_dir, parameters[page.stem], values, profile)
                       for page in fresh]
            for page, future in zip(fresh, futures):
                try:
                    future.result()
                except Exception as exc:
                    exc.add_note(f"while rendering the report page {page}")
                    raise
        _execute(index, html_dir, notebook_dir, {"results_dir": str(results), "reference_csv": str(reference),
                                                 "profile": profile, "pages": titles}, values, profile)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            for page in fresh:
                _store(cache, page.stem, keys[page.stem], html_dir, notebook_dir)
            _evict(cache, keys)
    return Path(out) / f"{INDEX}.html"
