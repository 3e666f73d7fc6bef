"""Report rendering: pages run side by side; a failing page stops the report and is named."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from dlrepro.report import render
from dlrepro.report.reference import compare
from dlrepro.report.summary import summary_folder

VALUES = {"kernel": "python3", "cell_timeout_s": 60, "workers": 2}


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("summary_dir = results_dir = reference_csv = profile = pages = None")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *map(nbformat.v4.new_code_cell, sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_pages_render_in_parallel_then_the_index(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    notebook(templates / "index.ipynb", "print('index of', pages)")
    for name in ("alpha", "beta", "gamma"):
        notebook(templates / f"{name}.ipynb", "print('page', summary_dir)")
    index = render.render_report(VALUES, "embedded", tmp_path / "results", tmp_path / "ref.csv", templates,
                                 tmp_path / "html")
    assert index == tmp_path / "html" / "index.html"
    assert sorted(p.name for p in (tmp_path / "html").glob("*.html")) == [
        "alpha.html", "beta.html", "gamma.html", "index.html"]
    assert "alpha" in index.read_text() and "gamma" in index.read_text()
    # a page is handed its own summary folder, nothing else of the results
    assert str(tmp_path / "results" / "alpha" / "summary") in (tmp_path / "html" / "alpha.html").read_text()


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


def stage(folder, accuracy, source="download"):
    """A variant's folder as the shared seed loop writes it: numbers in metrics.json, the rest in provenance.json."""
    folder.mkdir(parents=True)
    summary = {"mean": accuracy, "std": 0.01, "low": accuracy - 0.01, "high": accuracy + 0.01, "n": 3}
    (folder / "metrics.json").write_text(json.dumps({"test_accuracy": summary}))
    (folder / "provenance.json").write_text(json.dumps({
        "git_commit": "abc", "wall_s": 1.5, "device": "cpu", "params": {"lr": 0.1}, "setting": "adam",
        "data": {"source": source, "n_train": 10, "n_val": 2, "n_test": 5}, "per_seed": [{"seed": 0}]}))


def test_the_reference_comparison_reads_only_summaries(tmp_path):
    results = tmp_path / "results"
    stage(results / "exp" / "good", 0.99)
    stage(results / "exp" / "weak", 0.50)
    with summary_folder(results / "exp" / "summary", results / "exp", ["good", "weak"]):
        pass
    written = json.loads((results / "exp" / "summary" / "variants.json").read_text())
    assert written["good"]["setting"] == "adam" and "git_commit" not in written["good"]
    assert json.loads((results / "exp" / "summary" / "provenance.json").read_text())["weak"]["git_commit"] == "abc"
    (tmp_path / "ref.csv").write_text(
        "id,experiment,variant,metric,higher_is_better,original,original_setting\n"
        "a,exp,good,test_accuracy,true,0.9,x\nb,exp,weak,test_accuracy,true,0.9,y\nc,exp,gone,test_accuracy,true,0.9,z\n")
    shutil.rmtree(results / "exp" / "good")  # the variants' folders are not read
    table = compare(tmp_path / "ref.csv", results, "exp")
    assert table["verdict"].tolist() == ["beats", "falls short", "not run"]
    assert table.loc[0, "data"] == "real data (upstream): 10 train / 2 val / 5 test"
