"""Report rendering: pages run side by side; a failing page stops the report and is named."""

from __future__ import annotations

import nbformat
import pytest

from dlrepro.report import render

VALUES = {"kernel": "python3", "cell_timeout_s": 60, "workers": 2}


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("results_dir = reference_csv = profile = pages = None")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *map(nbformat.v4.new_code_cell, sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_pages_render_in_parallel_then_the_index(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    notebook(templates / "index.ipynb", "print('index of', pages)")
    for name in ("alpha", "beta", "gamma"):
        notebook(templates / f"{name}.ipynb", "print('page', results_dir)")
    index = render.render_report(VALUES, "embedded", tmp_path / "results", tmp_path / "ref.csv", templates,
                                 tmp_path / "html")
    assert index == tmp_path / "html" / "index.html"
    assert sorted(p.name for p in (tmp_path / "html").glob("*.html")) == [
        "alpha.html", "beta.html", "gamma.html", "index.html"]
    assert "alpha" in index.read_text() and "gamma" in index.read_text()


def test_a_failing_page_is_named_and_nothing_is_written(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    notebook(templates / "index.ipynb", "print(pages)")
    notebook(templates / "fine.ipynb", "x = 1")
    notebook(templates / "broken.ipynb", "raise ValueError('no results here')")
    with pytest.raises(Exception, match="no results here") as failure:
        render.render_report(VALUES, "embedded", tmp_path / "results", tmp_path / "ref.csv", templates,
                             tmp_path / "html")
    assert any("broken.ipynb" in note for note in failure.value.__notes__)
    assert not (tmp_path / "html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["templates"]
