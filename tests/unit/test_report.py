"""Report rendering: pages run side by side; a failing page stops the report and is named."""

from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest

from dlrepro.report import render
from tests import browser
from dlrepro.report.reference import TOLERANCES, compare, family_table_html, load_reference, verdict, verdict_counts
from dlrepro.report.results_tables import RESULTS_BEGIN, RESULTS_END, readme_block, write_readme
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
                                 tmp_path / "html", tmp_path / "notebooks")
    assert index == tmp_path / "html" / "index.html"
    assert sorted(p.name for p in (tmp_path / "html").iterdir()) == [
        "alpha.html", "beta.html", "gamma.html", "index.html", "style.css"]
    # the executed notebooks are kept, out of the HTML folder
    assert sorted(p.name for p in (tmp_path / "notebooks").iterdir()) == [
        "alpha.ipynb", "beta.ipynb", "gamma.ipynb", "index.ipynb"]
    assert "alpha" in index.read_text() and "gamma" in index.read_text()
    # a page is handed its own summary folder, nothing else of the results
    assert str(tmp_path / "results" / "alpha" / "summary") in (tmp_path / "html" / "alpha.html").read_text()
    # the same inputs render the same bytes (no random cell id, no date)
    pages = {p.name: p.read_bytes() for p in (tmp_path / "html").iterdir()}
    render.render_report(VALUES, "embedded", tmp_path / "results", tmp_path / "ref.csv", templates,
                         tmp_path / "html", tmp_path / "notebooks")
    assert {p.name: p.read_bytes() for p in (tmp_path / "html").iterdir()} == pages


def test_a_failing_page_is_named_and_nothing_is_written(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    notebook(templates / "index.ipynb", "print(pages)")
    notebook(templates / "fine.ipynb", "x = 1")
    notebook(templates / "broken.ipynb", "raise ValueError('no results here')")
    with pytest.raises(Exception, match="no results here") as failure:
        render.render_report(VALUES, "embedded", tmp_path / "results", tmp_path / "ref.csv", templates,
                             tmp_path / "html", tmp_path / "notebooks")
    assert any("broken.ipynb" in note for note in failure.value.__notes__)
    assert not (tmp_path / "html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["templates"]


def test_a_page_whose_inputs_are_unchanged_is_reused_from_the_cache(tmp_path):
    templates, results, executed = tmp_path / "templates", tmp_path / "results", tmp_path / "executed.txt"
    templates.mkdir()
    notebook(templates / "index.ipynb", "print(pages)")
    for name in ("alpha", "beta"):
        notebook(templates / f"{name}.ipynb", f"open({str(executed)!r}, 'a').write({name!r} + ' ')",
                 "print('value', open(summary_dir + '/value.txt').read())")
        (results / name / "summary").mkdir(parents=True)
        (results / name / "summary" / "value.txt").write_text("1")

    def rendered(code: str = "v1") -> list[str]:
        executed.write_text("")
        render.render_report(VALUES, "embedded", results, tmp_path / "ref.csv", templates, tmp_path / "html",
                             tmp_path / "notebooks", cache=tmp_path / "cache", code=code)
        return sorted(executed.read_text().split())

    assert rendered() == ["alpha", "beta"]
    page = (tmp_path / "html" / "alpha.html").read_bytes()
    assert rendered() == []  # nothing changed: both pages from the cache, the same bytes
    assert (tmp_path / "html" / "alpha.html").read_bytes() == page
    assert sorted(p.name for p in (tmp_path / "notebooks").iterdir()) == ["alpha.ipynb", "beta.ipynb", "index.ipynb"]
    (results / "alpha" / "summary" / "value.txt").write_text("2")
    assert rendered() == ["alpha"]  # one summary changed: its page only
    assert "value 2" in (tmp_path / "html" / "alpha.html").read_text()
    assert rendered(code="v2") == ["alpha", "beta"]  # the report's code changed: every page
    assert len(list((tmp_path / "cache").iterdir())) == 4  # one render per page: html and notebook
    assert rendered() == ["alpha", "beta"]  # back to v1: its renders were dropped


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
        "id,experiment,variant,metric,higher_is_better,original,original_setting,original_measured\n"
        "a,exp,good,test_accuracy,true,0.9,x,\nb,exp,weak,test_accuracy,true,0.9,y,\nc,exp,gone,test_accuracy,true,0.9,z,\n")
    shutil.rmtree(results / "exp" / "good")  # the variants' folders are not read
    table = compare(tmp_path / "ref.csv", results, "exp")
    assert table["verdict"].tolist() == ["beats", "falls short", "not run"]
    assert table.loc[0, "data"] == "real data (upstream): 10 train / 2 val / 5 test"


def interval(mean, half, n=3):
    return {"mean": mean, "std": None, "low": mean - half, "high": mean + half, "n": n}


@pytest.mark.parametrize("ours, higher_is_better, expected, leaning", [
    (interval(0.990, 0.002), True, "beats", "better"),
    (interval(0.900, 0.002), True, "matches", "within"),
    (interval(0.903, 0.002), True, "matches", "within"),  # [0.901, 0.905]: inside 0.9 ± 0.005
    (interval(0.800, 0.002), True, "falls short", "worse"),
    (interval(0.905, 0.002), True, "inconclusive", "matches or beats"),
    (interval(0.895, 0.002), True, "inconclusive", "matches or falls short"),
    (interval(0.900, 0.400), True, "inconclusive", "wider than the tolerance band"),  # [0.5, 1.3]: decides nothing
    ({"mean": 0.99, "std": None, "low": None, "high": None, "n": 1}, True, "inconclusive", "1 seed"),
    # lower is better (an error rate): far below the original beats it
    (interval(0.010, 0.002), False, "beats", "better"),
    (interval(0.990, 0.002), False, "falls short", "worse"),
])
def test_the_verdict_judges_the_interval_against_the_tolerance_band(ours, higher_is_better, expected, leaning):
    original = 0.9 if higher_is_better else 0.5
    judged, why = verdict(ours, original, higher_is_better, tolerance=0.005)
    assert judged == expected and leaning in why


def test_a_two_seed_interval_of_everything_reproduces_nothing():
    # the old rule called [0, 1] "reproduces": an interval that reaches the original decides nothing
    assert verdict({"mean": 0.5, "std": 0.1, "low": 0.0, "high": 1.0, "n": 2}, 0.9843, True, 0.005)[0] == "inconclusive"


def test_every_reference_metric_has_a_tolerance_and_a_missing_one_is_named(tmp_path):
    table = load_reference("reports/reference.csv")  # the project's own file loads
    assert set(table["metric"]) <= set(TOLERANCES)
    (tmp_path / "ref.csv").write_text(
        "id,experiment,variant,metric,higher_is_better,original,original_setting,original_measured\n"
        "a,exp,v,frechet_distance,false,3.0,x,\n")
    with pytest.raises(ValueError, match=r"ref.csv: no tolerance for metric\(s\) frechet_distance"):
        load_reference(tmp_path / "ref.csv")


def reference_run(tmp_path, source="download"):
    """Two families of summarised results and a reference file with a caveat and a missing original."""
    results = tmp_path / "results"
    for family, variants in {"exp": {"good": 0.99, "close": 0.9}, "other": {"only": 0.5}}.items():
        for variant, accuracy in variants.items():
            stage(results / family / "variants" / variant, accuracy, source)
        with summary_folder(results / family / "summary", results / family / "variants", list(variants)):
            pass
    (tmp_path / "ref.csv").write_text(
        "id,experiment,variant,metric,higher_is_better,original,original_setting,original_measured\n"
        "a,exp,good,test_accuracy,true,0.9,\"784 → 500 ReLU → 10, a long setting that the index cuts; SGD\",\n"
        "b,exp,close,test_accuracy,true,0.9,y,validation accuracy\n"
        "c,other,only,test_accuracy,true,,z,\n")
    return results, tmp_path / "ref.csv"


def test_the_index_tables_count_verdicts_per_family_and_link_each_row(tmp_path):
    results, ref = reference_run(tmp_path)
    table = compare(ref, results)
    assert table["verdict"].tolist() == ["beats", "inconclusive", "no original number"]
    counts = verdict_counts(table).set_index("family")
    assert counts.loc["exp", ["beats", "matches", "falls short", "inconclusive"]].tolist() == [1, 0, 0, 1]
    assert counts.loc["all families", "no original number"] == 1
    html = family_table_html(table[table["experiment"] == "exp"])
    assert html.count('<a href="exp.html">') == 2
    assert '<span>inconclusive</span><div class="caveat">original: validation accuracy</div>' in html
    assert '<td class="number interval">0.9900 [0.9800, 1.0000]</td><td class="number">3</td>' in html
    assert ">784 → 500 ReLU → 10, a long setting that the index cuts<" in html  # first clause only
    assert 'title="784 → 500 ReLU → 10, a long setting that the index cuts; SGD"' in html  # full text kept


def test_embedded_results_are_not_compared_with_real_numbers(tmp_path):
    results, ref = reference_run(tmp_path, source="embedded")
    assert set(compare(ref, results)["verdict"]) == {"not comparable"}


def test_the_readme_block_is_the_index_comparison_and_replaces_only_itself(tmp_path):
    results, ref = reference_run(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{RESULTS_BEGIN}\nold table\n{RESULTS_END}\nafter\n")
    block = readme_block(results, ref, "real")
    write_readme(readme, block)
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n") and text.endswith("\nafter\n") and "old table" not in text
    assert "Profile `real`, results of commit abc." in text
    assert "3 rows: 1 beat, 0 match, 0 fall short, 1 inconclusive; 1 no original number." in text
    # every row's numbers and verdict are the index's own
    for row in compare(ref, results).itertuples():
        assert f"| `{row.variant}` | {row.metric} | {row.original} | {row.ours} | {row.seeds} | {row.verdict}" in text
    # where the time went: each family's stages (1.5 s each) and its share of them all
    assert "| exp | 2 | 0.1 | 67% |" in text and "| other | 1 | 0.0 | 33% |" in text
    write_readme(readme, readme_block(results, ref, "real"))
    assert readme.read_text() == text  # idempotent
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="README.md: expected one line"):
        write_readme(readme, block)


def test_the_readme_has_its_results_block():
    text = open("README.md").read()
    assert text.count(RESULTS_BEGIN) == 1 and text.count(RESULTS_END) == 1


def test_pages_are_offline_light_and_figures_have_alt_text(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    notebook(templates / "index.ipynb", "print(pages)")
    page = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("summary_dir = reference_csv = profile = None")
    parameters.metadata["tags"] = ["parameters"]
    figure = ("import io, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
              "from IPython.display import Image, display\n"
              "buf = io.BytesIO(); plt.plot([1, 2]); plt.savefig(buf, format='png')\n")
    page.cells = [nbformat.v4.new_markdown_cell("# Loss `curves`\n\nIntro."), parameters,
                  nbformat.v4.new_markdown_cell("## Training loss\n\nLoss per epoch, mean over seeds. More text."),
                  nbformat.v4.new_code_cell(figure + "display(Image(buf.getvalue()))"),
                  nbformat.v4.new_code_cell(figure + "display(Image(buf.getvalue(), alt='a given description'))")]
    page.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(page, templates / "curves.ipynb")
    render.render_report(VALUES, "embedded", tmp_path / "results", tmp_path / "ref.csv", templates,
                         tmp_path / "html", tmp_path / "notebooks")
    text = (tmp_path / "html" / "curves.html").read_text()
    assert "<script" not in text and "https://" not in text  # nothing from a CDN
    assert '<link rel="stylesheet" href="style.css">' in text and "<style" not in text
    assert "<title>Loss curves</title>" in text
    assert 'alt="Training loss: Loss per epoch, mean over seeds."' in text
    assert 'alt="a given description"' in text
    assert len(text) < 60_000  # two small figures, no 270 KB of notebook CSS


def test_the_browser_check_sees_what_a_reader_would_miss(tmp_path):
    browser.require_chromium()
    bad = tmp_path / "html"
    bad.mkdir()
    (bad / "bad.html").write_text('<html><head><script src="https://cdn.invalid/require.js"></script></head>'
                                  '<body><img src="missing.png" alt="a figure"><script>undefined_call()</script></body></html>')
    (bad / "good.html").write_text('<html><body><p>fine</p></body></html>')
    (tmp_path / "shots").mkdir()
    problems = browser.look_at(bad, tmp_path / "shots")
    assert problems["good.html"] == []
    found = " | ".join(problems["bad.html"])
    assert "failed request https://cdn.invalid/require.js" in found and "image a figure" in found
    assert "undefined_call is not defined" in found
    assert (tmp_path / "shots" / "bad.png").stat().st_size > 0


def test_the_provenance_table_names_the_cpu_and_its_kernels():
    from dlrepro.report.pages import device_text, provenance_table

    run = {"git_commit": "abc", "git_dirty": False, "wall_s": 1.5, "versions": {"torch": "2.13.0"}, "torch_threads": 2,
           "device": "cpu", "device_name": "Intel(R) Xeon(R) Processor", "cpu_kernels": "AVX512"}
    assert device_text(run) == "cpu (Intel(R) Xeon(R) Processor, AVX512 kernels)"
    assert device_text({**run, "device": "cuda", "device_name": "NVIDIA H200"}) == "cuda (NVIDIA H200)"
    old = {k: v for k, v in run.items() if k != "cpu_kernels"} | {"device_name": ""}  # results from before it was recorded
    assert device_text(old) == "cpu"
    html = provenance_table({"a": run, "b": {**run, "git_dirty": True}}, extra={"a": {"judge": "seed 0"}})
    assert re.findall(r"<th>(.*?)</th>", html) == ["variant", "git commit", "uncommitted changes", "device", "wall time (s)",
                                                  "judge", "torch", "threads"]
    assert "AVX512 kernels" in html and ">yes<" in html and ">no<" in html
