"""The real pipeline on the embedded profile, in a temporary copy, through Snakemake and DVC.

The copy's params shorten the schedule (fewer epochs and seeds) so the suite stays fast; the
code, rules and stages are the real ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dlrepro.train.provenance import read_result
from tests import browser, s3, slurm
from tests.conftest import copy_project, edit_params, git, restore_files

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
MNIST_MLP_STAGES = {"train_mnist_mlp@default", "train_mnist_mlp@original", "summarize_mnist_mlp", "report"}
INPUTS = "inputs"  # DVC's first stage: each stage's params and sources; any edit of them runs it


def run(project: Path, *cmd: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    out = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=environ)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def shorten(params: dict) -> None:
    embedded = params["mnist_mlp"]["profiles"]["embedded"]
    embedded["train"].update(epochs=3, seeds=[0, 1])
    embedded["analysis"].update(n_images=150, probe_train_size=300)
    embedded["variants"]["original"]["train"]["epochs"] = 4
    ablation = params["mlp_ablation"]["profiles"]["embedded"]
    ablation["train"].update(epochs=2, seeds=[0, 1])
    # a full sub-grid (sigmoid and ReLU x three initialisers x SGD and Adam: every cell REFERENCE.md quotes) and every sweep
    drop_variants(params["mlp_ablation"], lambda v: v.startswith("leaky_relu_") or v.endswith("_momentum"))
    params["mnist_linear"]["profiles"]["embedded"]["train"].update(steps=100, eval_every=50, seeds=[0, 1])
    params["layer_probes"]["profiles"]["embedded"].update(draws=20, probe_train_size=300, steps=20)
    params["training_diagnosis"]["profiles"]["embedded"]["train"].update(steps=40, eval_every=20, seeds=[0, 1])
    params["training_diagnosis"]["profiles"]["embedded"]["diagnostics"].update(snapshots=3)
    params["input_order"]["profiles"]["embedded"]["train"].update(epochs=1, seeds=[0, 1])
    params["svd_compress"]["profiles"]["embedded"]["finetune"]["epochs"] = 1
    shorten_images(params)
    shorten_speech(params)
    shorten_generative(params)
    shorten_challenges(params)


IMAGE_PAGES = ("fmnist_mlp_grid", "fmnist_cnn", "cifar_cnn", "cifar_augment", "cifar_transfer")


def drop_variants(section: dict, drop) -> None:
    """Fewer stages: the variants whose name drop(name) accepts leave the section and its profiles."""
    for variants in (section["variants"], *(p.get("variants", {}) for p in section.get("profiles", {}).values())):
        for name in [v for v in variants if drop(v)]:
            del variants[name]


def shorten_images(params: dict) -> None:
    """The image families on few generated images, for one or two epochs; the Fashion-MNIST grid without tanh."""
    params["fashion_mnist"]["embedded"].update(n_train=600, n_test=200)
    params["cifar10"]["embedded"].update(n_train=1000, n_test=200)
    for section in ("fmnist_mlp_grid", "fmnist_cnn", "cifar_cnn"):
        params[section]["profiles"]["embedded"]["train"].update(steps=12, seeds=[0, 1])
    drop_variants(params["fmnist_mlp_grid"], lambda v: "tanh" in v)
    augment = params["cifar_augment"]["profiles"]["embedded"]
    augment["train"].update(epochs=1, seeds=[0, 1])
    augment["data"]["n_train"] = 200
    for variant in augment["variants"].values():
        variant["train"]["epochs"] = 1
    transfer = params["cifar_transfer"]["profiles"]["embedded"]
    transfer["pretext"].update(n_images=150, val_size=50)
    transfer["pretext"]["train"]["epochs"] = 1
    transfer["train"]["epochs"] = 2


def shorten_generative(params: dict) -> None:
    """The judge and the generative families for a few epochs, two seeds."""
    params["mnist_judge"]["profiles"]["embedded"]["train"].update(epochs=4, seeds=[0, 1])
    vae = params["vae_sevens"]["profiles"]["embedded"]
    vae["train"].update(epochs=4, seeds=[0, 1])
    vae["variants"]["all_digits"]["train"]["epochs"] = 1
    params["pixel_rnn"]["profiles"]["embedded"]["train"].update(epochs=2)
    params["gan_impute"]["profiles"]["embedded"]["train"].update(epochs=2)
    params["cgan_label"]["profiles"]["embedded"]["train"].update(epochs=4, checkpoint_every=2)
    params["cgan_center"]["profiles"]["embedded"]["train"].update(epochs=2, checkpoint_every=1)


def shorten_challenges(params: dict) -> None:
    """The 11-785 challenges (frame phonemes, faces, CTC) for one or two epochs."""
    params["frame_phoneme"]["profiles"]["embedded"]["train"].update(epochs=1)
    params["face_recognition"]["profiles"]["embedded"]["train"].update(epochs=2)
    params["ctc_phoneme"]["profiles"]["embedded"]["train"].update(epochs=1)


SPEECH = ("denoise", "lstm_ibm", "siamese", "continuation")


def shorten_speech(params: dict) -> None:
    """The speech family on a few seconds of generated audio and 24 speakers, for two epochs."""
    params["speech_denoise"]["embedded"].update(seconds=12, test_seconds=[1.0, 1.5])
    params["speech_utterances"]["embedded"].update(n_speakers=24, noise_seconds=2)
    params["speech_features"]["pairs"].update(test_speakers=8, val_speakers=2)
    params["speech_features"]["profiles"]["embedded"]["pairs"].update(per_speaker=6)
    for section in SPEECH:
        params[section]["profiles"]["embedded"]["train"].update(epochs=2, seeds=[0, 1])


def params_of(project: Path) -> dict:
    from dlrepro.config import read_params

    return read_params(project / "params.yaml")[0]


def downstream_of_default(project: Path) -> dict[str, int]:
    """Jobs that re-run when the mnist_mlp default models change, besides mnist_mlp's own."""
    return {"train_svd_compress": len(params_of(project)["svd_compress"]["variants"]), "summarize_svd_compress": 1,
            "train_layer_probes": 1, "summarize_layer_probes": 1}


def snakemake_plan(project: Path) -> dict[str, int]:
    """Jobs a dry run would execute, by rule, from Snakemake's job-stats table."""
    out = run(project, "snakemake", "-n").stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in table.strip().splitlines()[2:]]
    return {name: int(count) for name, count in rows if name != "total"}


def dvc_changed(project: Path) -> set[str]:
    return set(json.loads(run(project, "dvc", "status", "--json").stdout or "{}"))


def run_inputs(project: Path) -> None:
    """The inputs stage's own command, as `dvc repro` runs it first (without DVC's record of it,
    which costs seconds)."""
    from dlrepro import registry

    stage = registry.dvc_stages()[0]
    assert stage.name == INPUTS
    run(project, *stage.cmd.format(profile=params_of(project)["profile"]).split())


def dvc_plan(project: Path) -> set[str]:
    """The stages `dvc repro` would run after the inputs stage. DVC sees an edit of params or
    sources through that stage only (first it alone is listed); once its command has run, DVC
    lists the stages whose inputs file changed."""
    assert dvc_changed(project) == {INPUTS}
    run_inputs(project)
    return dvc_changed(project) - {INPUTS}


def restore(project: Path, saved: dict[Path, str]) -> None:
    """Params files back as they were, and the inputs files DVC recorded with them."""
    restore_files(saved)
    run_inputs(project)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("pipeline") / "project")
    edit_params(project, shorten)
    git(project, "commit", "-qam", "shorter schedule for tests")
    run(project, "snakemake", "--cores", "2")
    return project


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))


def test_report_links_and_images_resolve(project):
    html_dir = project / "reports" / "html"
    pages = {p.name for p in html_dir.glob("*.html")}
    assert {"index.html", "mnist_mlp.html"} <= pages
    for page in pages:
        parser = Links()
        parser.feed((html_dir / page).read_text())
        local = [h for h in parser.hrefs if not re.match(r"^(https?:|#|mailto:)", h)]
        assert all((html_dir / h.split("#")[0]).is_file() for h in local), (page, local)
        assert all(src.startswith("data:image/png;base64,") for src in parser.images), page
    index = (html_dir / "index.html").read_text()
    assert 'href="mnist_mlp.html"' in index and "0.9843" in index
    assert "<span>not comparable</span>" in index and "embedded stand-in data" in index
    page = (html_dir / "mnist_mlp.html").read_text()
    assert page.count("data:image/png;base64,") >= 5  # two curves, probes, PCA, t-SNE
    assert "hidden 5" in page


def test_the_report_opens_in_a_browser_as_a_reviewer_sees_it(project, tmp_path):
    """Every page in headless Chromium: nothing fails to load (no CDN), no console error, every
    figure and player decodes; the screenshots are kept for a person to look at."""
    browser.require_chromium()
    html_dir = project / "reports" / "html"
    shots = browser.screenshot_dir(tmp_path)
    problems = browser.look_at(html_dir, shots)
    assert len(problems) == len(list((project / "reports" / "templates").glob("*.ipynb")))
    assert {page: found for page, found in problems.items() if found} == {}
    assert all((shots / f"{Path(page).stem}.png").stat().st_size > 10_000 for page in problems)
    assert not list(html_dir.glob("*.ipynb")) and (project / "reports" / "notebooks" / "index.ipynb").is_file()
    print(f"screenshots of {len(problems)} pages: {shots}")


def test_snakemakes_own_report_shows_results_by_family(project, tmp_path):
    run(project, "snakemake", "--report", str(tmp_path / "report.zip"))
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = [Path(n).name for n in archive.namelist()]
        description = archive.read("report/report.html").decode()
    # every variant's metrics, the summaries' figures, and the HTML report from its index page
    variants = len(list(project.glob("results/*/variants/*/metrics.json")))
    assert variants > 40 and names.count("metrics.json") == variants
    assert {"accuracy_vs_rank.png", "roc.png", "index.html", "svd_compress.html", "style.css"} <= set(names)
    assert "svd_compress" in description and "mnist_mlp" in description


def test_second_run_does_nothing_in_either_tool(project):
    assert snakemake_plan(project) == {}
    run(project, "dvc", "commit", "--force")  # hand Snakemake's results to DVC
    assert dvc_changed(project) == set()
    assert snakemake_plan(project) == {}


def test_one_value_reruns_exactly_its_experiment_in_both_tools(project):
    saved = edit_params(project, lambda p: p["mnist_mlp"]["train"].update(lr=0.002))
    assert snakemake_plan(project) == {INPUTS: 1, "train_mnist_mlp": 2, "summarize_mnist_mlp": 1,
                                       **downstream_of_default(project),
                                       "report": 1, "all": 1}
    # DVC lists the stages whose own params changed; the report follows when their outputs change.
    assert dvc_plan(project) == MNIST_MLP_STAGES - {"report"}
    restore(project, saved)
    assert snakemake_plan(project) == {} and dvc_changed(project) == set()


def test_a_shared_value_reruns_every_stage_in_both_tools(project):
    """runtime (and profile) concern every stage: Snakemake tracks them per job, DVC through each
    stage's inputs file, which holds their values."""
    from dlrepro import registry

    saved = edit_params(project, lambda p: p["runtime"]["profiles"]["embedded"].update(threads=2))
    try:
        work = registry.work_stages()
        assert snakemake_plan(project) == {INPUTS: 1, **{s.name: len(stage_jobs(project, s)) for s in work}, "all": 1}
        assert dvc_plan(project) == {j for s in work for j in stage_jobs(project, s)}
    finally:
        restore(project, saved)
    assert snakemake_plan(project) == {} and dvc_changed(project) == set()


def test_one_variant_value_reruns_only_that_variant(project):
    edit_params(project, lambda p: p["mnist_mlp"]["variants"]["original"]["train"].update(lr=0.0005))
    assert snakemake_plan(project) == {INPUTS: 1, "train_mnist_mlp": 1, "summarize_mnist_mlp": 1, "report": 1,
                                       "all": 1}
    assert dvc_plan(project) == {"train_mnist_mlp@original"}
    out = run(project, "dvc", "repro").stdout
    assert "Running stage 'train_mnist_mlp@original'" in out and "Running stage 'report'" in out
    assert "Running stage 'train_mnist_mlp@default'" not in out and "Running stage 'data_mnist'" not in out
    # Hand DVC's results to Snakemake without re-running anything, as `make record-in-snakemake`
    # does, here on a tree where DVC ran alone: Snakemake's code fingerprints are missing.
    shutil.rmtree(project / "results/code")
    fingerprints = [r for r in run(project, "snakemake", "--list-rules").stdout.split() if r.startswith("code_")]
    run(project, "snakemake", "--cores", "1", *fingerprints)
    run(project, "snakemake", "--touch", "--forceall", "--cores", "1")
    assert snakemake_plan(project) == {} and dvc_changed(project) == set()
    provenance = json.loads((project / "results/mnist_mlp/variants/original/provenance.json").read_text())
    assert provenance["params"]["train"]["lr"] == 0.0005


def test_mlp_study_pages_render_with_their_figures(project):
    html_dir = project / "reports" / "html"
    pages = {name: (html_dir / f"{name}.html").read_text()
             for name in ("mlp_ablation", "mnist_linear", "layer_probes", "training_diagnosis", "input_order")}
    index = (html_dir / "index.html").read_text()
    for name in pages:
        assert f'href="{name}.html"' in index
    assert "0.1135" in index and "0.914" in index and "0.9858" in index
    # heat map + 3 grid axes + sweep axes; the findings are computed from the results
    assert pages["mlp_ablation"].count("data:image/png;base64,") >= 8
    assert "matters most is <strong>" in pages["mlp_ablation"]
    assert pages["training_diagnosis"].count("data:image/png;base64,") >= 15  # 5 x (curves + 2 histograms)
    for setup in ("lr_too_high", "saturated_sigmoid", "zero_init", "sorted_labels", "double_softmax"):
        assert setup in pages["training_diagnosis"]
    assert pages["input_order"].count("data:image/png;base64,") >= 1 and "batch_shuffle_repeat" in pages["input_order"]
    # subset distributions and best/worst units; PCA, t-SNE and full probes are on mnist_mlp's page, linked
    assert pages["layer_probes"].count("data:image/png;base64,") >= 2 and "hidden 5" in pages["layer_probes"]
    assert 'href="mnist_mlp.html"' in pages["layer_probes"]


def test_one_ablation_variant_reruns_only_it_and_the_summary(project):
    saved = edit_params(project, lambda p: p["mlp_ablation"]["variants"]["lr_high"]["train"]["lr"].update(adam=0.02))
    try:
        assert snakemake_plan(project) == {INPUTS: 1, "train_mlp_ablation": 1, "summarize_mlp_ablation": 1,
                                           "report": 1, "all": 1}
        assert dvc_plan(project) == {"train_mlp_ablation@lr_high", "summarize_mlp_ablation"}
    finally:
        restore(project, saved)
    assert snakemake_plan(project) == {} and dvc_changed(project) == set()


def assert_retrains_identically(project: Path, out: Path, experiment: str, variant: str, data: str,
                                names: tuple[str, ...]) -> None:
    """Train a variant again into out: metrics.json and the named run files are the same bytes."""
    run(project, "dlrepro", "train", experiment, "--variant", variant, "--data", data,
        "--runs", str(out / "runs"), "--metrics", str(out / "metrics.json"), "--provenance", str(out / "prov.json"))
    done = project / "results" / experiment.replace("-", "_") / "variants" / variant
    assert (out / "metrics.json").read_bytes() == (done / "metrics.json").read_bytes()
    ours, theirs = (json.loads((d / name).read_text()) for d, name in ((out, "prov.json"), (done, "provenance.json")))
    assert all(ours[k] == theirs[k] for k in ("per_seed", "data", "params", "setting"))
    for name in names:
        assert (out / "runs" / name).read_bytes() == (done / "runs" / name).read_bytes(), name


def test_same_params_same_metrics(project, tmp_path):
    assert_retrains_identically(project, tmp_path / "again", "mnist-mlp", "default", "data/mnist",
                                ("seed1/history.csv", "seed1/model.pt"))


def test_unknown_params_key_stops_both_tools_with_its_name(project):
    """Snakemake's first line and DVC's run name the file and dotted key; no output is touched."""
    kept = project / "results/mnist_mlp/variants/default/metrics.json"
    before = kept.read_bytes()
    saved = edit_params(project, lambda p: p["mnist_mlp"]["train"].update(learning_rate=0.1))
    said = "params/mnist_mlp.yaml: mnist_mlp.train: unknown key 'learning_rate'"
    try:
        smk = run(project, "snakemake", "-n", check=False)
        lines = [line for line in (smk.stdout + smk.stderr).splitlines() if not line.startswith("Using workflow")]
        assert smk.returncode != 0 and said in lines[0]
        dvc = run(project, "dvc", "repro", check=False)
        assert dvc.returncode != 0 and said in dvc.stdout + dvc.stderr
        assert "Running stage 'train_mnist_mlp@default'" not in dvc.stdout
        assert kept.read_bytes() == before
        cli = run(project, "dlrepro", "data", "mnist", "--out", "data/other", check=False)
        assert cli.returncode == 2 and said in cli.stderr
        assert not (project / "data/other").exists()
    finally:
        restore_files(saved)
    assert dvc_changed(project) == set()


def test_corrupt_mirror_file_fails_and_writes_nothing(project, tmp_path, mirror):
    broken = tmp_path / "mirror" / "mnist"
    broken.mkdir(parents=True)
    for f in (mirror / "mnist").glob("*.gz"):
        data = f.read_bytes()
        (broken / f.name).write_bytes(data[: len(data) // 2] if f.name.startswith("t10k-labels") else data)
    out = run(project, "dlrepro", "data", "mnist", "--profile", "full", "--out", "data/mnist_full", check=False,
              env={"DLREPRO_MIRROR": str(tmp_path / "mirror")})
    assert out.returncode == 2
    assert "t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip file" in out.stderr
    assert not (project / "data/mnist_full").exists()
    assert not list((project / "data").glob(".mnist_full*"))


def test_missing_dataset_without_network_is_explained(project, tmp_path):
    out = run(project, "dlrepro", "data", "mnist", "--profile", "full", "--out", "data/mnist_net", check=False,
              env={"DLREPRO_MIRROR": ""})
    assert out.returncode == 2
    assert "could not download mnist/" in out.stderr and "DLREPRO_MIRROR" in out.stderr
    assert not (project / "data/mnist_net").exists()


def test_image_pages_show_their_figures_and_reference_rows(project):
    html_dir = project / "reports" / "html"
    index = (html_dir / "index.html").read_text()
    for page, figures, original in [("fmnist_mlp_grid", 4, "0.847"), ("fmnist_cnn", 2, "0.89"),
                                    ("cifar_cnn", 3, "0.6035"), ("cifar_augment", 3, "0.6798"),
                                    ("cifar_transfer", 4, "0.3572")]:
        html = (html_dir / f"{page}.html").read_text()
        assert html.count("data:image/png;base64,") >= figures, page
        assert original in html and original in index and f'href="{page}.html"' in index
    result = read_result(project / "results/cifar_transfer/variants/trunk_lr_0_1")
    assert result["data"]["n_train"] == 500 and result["test_accuracy"]["n"] == 2
    summary = (project / "results/cifar_augment/summary/results.csv").read_text()
    assert summary.count("\n") == 11  # header and ten variants


def test_one_augmentation_variant_reruns_only_itself(project):
    saved = edit_params(project, lambda p: p["cifar_augment"]["variants"]["small_crop"]["augment"].update(crop_pad=2))
    try:
        assert snakemake_plan(project) == {INPUTS: 1, "train_cifar_augment": 1, "summarize_cifar_augment": 1,
                                           "report": 1, "all": 1}
        assert dvc_plan(project) == {"train_cifar_augment@small_crop", "summarize_cifar_augment"}
    finally:
        restore(project, saved)


def test_svd_compress_stores_evaluates_and_reports(project):
    import torch

    from dlrepro.models import compressed
    from dlrepro.train.engine import evaluate
    from dlrepro.train.splits import load_splits

    root, variants = project / "results/svd_compress", project / "results/svd_compress/variants"
    base = read_result(project / "results/mnist_mlp/variants/default")
    m = {v: read_result(variants / v)
         for v in ("svd_d10", "svd_d20", "svd_d50", "svd_full", "finetune_d20", "loop_d20", "prune_90")}
    n_test = base["data"]["n_test"]
    for run, b in zip(m["svd_full"]["per_seed"], base["per_seed"]):
        # Full rank really is full: each seed's accuracy is its baseline's, the file the size of its checkpoint.
        assert run["baseline_test_accuracy"] == b["test_accuracy"]
        assert abs(run["test_accuracy"] - b["test_accuracy"]) <= 1 / n_test
        assert run["stored_bytes"] == pytest.approx(run["baseline_bytes"], rel=0.01)
    assert all(set(m[v]) >= {"per_seed", "data", "params", "setting", "baseline_bytes"} for v in m)
    assert all(set(s) == {"mean", "std", "low", "high", "n"}
               for s in json.loads((variants / "svd_full/metrics.json").read_text()).values())  # numbers only
    sizes = [m[v]["stored_bytes"]["mean"] for v in ("svd_d10", "svd_d20", "svd_d50", "svd_full")]
    assert sizes == sorted(sizes) and sizes[1] < 0.05 * sizes[-1]
    assert m["svd_d20"]["size_pct_int8"]["mean"] < 0.35 * m["svd_d20"]["size_pct"]["mean"]
    assert m["finetune_d20"]["test_accuracy"]["mean"] >= m["svd_d20"]["test_accuracy"]["mean"]
    # Stored sizes are the files' sizes, and a file loaded back gives the recorded accuracy.
    _, val, test, _, _ = load_splits(project / "data/mnist", base["params"]["train"], torch.device("cpu"))
    for variant in ("finetune_d20", "prune_90", "loop_d20"):
        run = m[variant]["per_seed"][-1]
        for precision, suffix in (("float32", ""), ("int8", "_int8")):
            path = variants / variant / "runs" / f"seed{run['seed']}" / f"model_{precision}.pt"
            assert path.stat().st_size == run[f"stored_bytes{suffix}"]
            model = compressed.decode(compressed.load(path))
            assert evaluate(model, test)["accuracy"] == run[f"test_accuracy{suffix}"]
    summary = json.loads((root / "summary/metrics.json").read_text())
    assert 0 < summary["smallest_size_pct"]["mean"] <= 101
    # Wall times of one process among others: recorded as measured, their direction not asserted.
    cost = json.loads((root / "summary/step_cost.json").read_text())["loop_d20"]
    assert cost["loop_step_s"] > 0 and cost["plain_step_s"] > 0
    assert cost["ratio"] == pytest.approx(cost["loop_step_s"] / cost["plain_step_s"])
    page = (project / "reports/html/svd_compress.html").read_text()
    assert page.count("data:image/png;base64,") >= 3  # rank, Pareto, spectra
    assert "compressed by 97% without decreasing accuracy" in page
    assert "0.7314" in page and "not comparable" in page and "embedded stand-in data" in page


def test_speech_pages_embed_audio_spectrograms_and_reference_rows(project):
    html_dir = project / "reports" / "html"
    index = (html_dir / "index.html").read_text()
    for page, figures, original in [("denoise", 2, "16.83"), ("lstm_ibm", 2, "11.08"), ("siamese", 1, "0.6756"),
                                    ("continuation", 1, "")]:
        html = (html_dir / f"{page}.html").read_text()
        assert html.count("data:image/png;base64,") >= figures, page
        assert f'href="{page}.html"' in index and original in html and original in index
    denoise = (html_dir / "denoise.html").read_text()
    # players for clean, noisy, every denoiser and the two test files, each an embedded WAV
    assert len(re.findall(r'<audio [^>]*src="data:audio/wav;base64,', denoise)) == 2 + 6 + 2
    assert "beats the noisy input" in denoise
    # the audio pages: a table of players, one row per clip with its label first
    for page, clips in (("lstm_ibm", 2 * (2 + 2)), ("siamese", 4), ("continuation", 2 + 2)):
        html = (html_dir / f"{page}.html").read_text()
        assert len(re.findall(r'<tr><td[^>]*>[^<]+</td><td><audio [^>]*src="data:audio/wav;base64,', html)) == clips, page


# The speech family's stages, from the same run (their shortened params: shorten_speech).

def test_every_speech_stage_ran_with_intervals_over_seeds(project):
    root = project / "results"
    denoise = {v: read_result(root / "denoise" / "variants" / v)
               for v in ("fc2", "fc5", "fc2_magnitude", "cnn1d", "cnn2d", "bilstm")}
    for v, m in denoise.items():
        assert m["test_snr_db"]["n"] == 2 and m["test_snr_db"]["low"] <= m["test_snr_db"]["high"], v
        assert m["data"]["source"] == "embedded" and m["noisy_snr_db"] == pytest.approx(6.5, abs=1.5)
    # the first seed's audio is kept for listening
    assert (root / "denoise/variants/fc2/runs/seed0/denoised_test_x_02.wav").is_file()
    summary = json.loads((root / "denoise/summary/summary.json").read_text())
    assert summary["fc_vs_cnn"]["snr_difference_db"]["n"] == 2
    assert {p.name for p in (root / "denoise/summary/audio").iterdir()} >= {"clean.wav", "noisy.wav", "bilstm.wav"}
    assert len(list((root / "denoise/summary/best_test_files").glob("denoised_test_x_*.wav"))) >= 2
    assert set(json.loads((root / "denoise/summary/variants.json").read_text())) == set(denoise)
    lstm = read_result(root / "lstm_ibm/variants/chunks")
    assert set(lstm["per_seed"][0]["test_snr_db_by_input"]) == {"0", "5", "10"}
    siamese = read_result(root / "siamese/variants/bilstm")
    assert len(siamese["data"]["test_speakers"]) == 8 and len(siamese["data"]["val_speakers"]) == 2 and siamese["one_shot_chance"] == pytest.approx(1 / 8)
    for key in ("test_pair_accuracy", "test_auc", "test_eer", "test_one_shot_accuracy"):
        assert 0 <= siamese[key]["mean"] <= 1
    cont = read_result(root / "continuation/variants/fc")
    assert {"last_frame_snr_db", "mean_spectrum_snr_db"} <= set(cont)


def test_speech_stages_are_byte_stable(project, tmp_path):
    assert_retrains_identically(project, tmp_path / "again", "denoise", "fc2", "data/speech_denoise",
                                ("seed0/model.pt", "seed0/denoised_test_part.wav", "seed1/history.csv"))


def test_one_speech_variant_reruns_only_itself(project):
    saved = edit_params(project, lambda p: p["siamese"]["variants"]["bilstm"]["model"].update(embedding=32))
    out = run(project, "snakemake", "-n", "results/siamese/summary").stdout
    assert "train_siamese" in out and "summarize_siamese" in out
    assert "train_denoise" not in out and "data_speech_features" not in out
    restore_files(saved)


def stage_jobs(project: Path, stage) -> list[str]:
    """A registry stage's jobs as the tools name them: name@variant for each variant, or name."""
    if not stage.variants:
        return [stage.name]
    return [f"{stage.name}@{v}" for v in params_of(project)[stage.variants]["variants"]]


def expected_reruns(project: Path, source: str) -> tuple[dict[str, int], set[str]]:
    """When a package file changes: Snakemake's plan (jobs per rule): the inputs stage and the code
    fingerprints that read the file, every stage whose import closure holds it and everything
    downstream; and the stages DVC lists once the inputs stage has run: those whose closure holds it."""
    from dlrepro import registry

    stages = registry.stages()
    outputs = {s.name: {o.format(variant=j.partition("@")[2]) for j in stage_jobs(project, s) for o in s.all_outs()}
               for s in stages}
    readers = {s.name for s in stages if source in s.deps}  # the fingerprints and the inputs stage
    changed = {s.name for s in stages if source in s.code and not s.runs_on_content}
    planned, todo = set(readers), list(changed)
    while todo:
        name = todo.pop()
        if name in planned:
            continue
        planned.add(name)
        for s in stages:
            a = next(x for x in stages if x.name == name)
            if (s.collects and s.collects == a.variants) or outputs[name] & set(s.deps):
                todo.append(s.name)
    plan = {s.name: len(stage_jobs(project, s)) for s in stages if s.name in planned}
    dvc = {j for s in stages if s.name in changed for j in stage_jobs(project, s)}
    return {**plan, "all": 1}, dvc


@pytest.mark.parametrize("source", ["src/dlrepro/train/stats.py", "src/dlrepro/experiments/siamese.py"])
def test_a_code_edit_reruns_exactly_the_stages_that_import_it(project, source):
    path = project / source
    original, stat = path.read_bytes(), path.stat()
    plan, dvc = expected_reruns(project, source)
    assert INPUTS in plan and 1 < len(dvc) < sum(plan.values()) - 1
    path.write_bytes(original + b"\n# a comment\n")
    try:
        assert snakemake_plan(project) == plan
        assert dvc_plan(project) == dvc
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        run_inputs(project)
    assert snakemake_plan(project) == {} and dvc_changed(project) == set()


def test_a_killed_stage_is_rebuilt_by_the_next_plain_run(project):
    """kill -9 mid-stage, unlock, plain run: every output back, the same bytes, no leftovers."""
    folder = project / "results/mnist_linear/variants/default"
    before = (folder / "metrics.json").read_bytes()
    environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    job = subprocess.Popen(["snakemake", "--cores", "1", "--forcerun", "train_mnist_linear"], cwd=project,
                           env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(folder.glob(".runs.*.tmp")):  # the stage is writing its seeds
        assert job.poll() is None and time.monotonic() < deadline, "the stage ended before it could be killed"
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert not (folder / "metrics.json").exists() and list(folder.glob(".runs.*.tmp"))
    run(project, "snakemake", "--unlock")
    assert snakemake_plan(project)["train_mnist_linear"] == 1
    run(project, "snakemake", "--cores", "2")
    assert (folder / "metrics.json").read_bytes() == before
    assert not [p for p in (project / "results").rglob("*") if p.name.endswith(".tmp") or ".old-" in p.name]
    assert snakemake_plan(project) == {}
    run(project, "dvc", "commit", "--force")
    assert dvc_changed(project) == set()


def test_metrics_files_hold_the_headline_numbers_and_dvc_shows_them(project):
    """metrics.json: each headline metric's mean, interval and seed count; one row per variant in
    `dvc metrics show`; every family's training curves in `dvc plots show`."""
    from dlrepro import registry

    for e in registry.EXPERIMENTS:
        files = sorted((project / "results" / e.section / "variants").glob("*/metrics.json"))
        assert files, e.section
        for path in files:
            metrics = json.loads(path.read_text())
            assert set(metrics) == ({"test_accuracy"} if path.parent.name == "pretext" else set(e.headline)), path
            assert all(set(m) == {"mean", "std", "low", "high", "n"} and isinstance(m["mean"], float)
                       for m in metrics.values()), path
        shown = run(project, "dvc", "metrics", "show", *(str(f.relative_to(project)) for f in files)).stdout
        header, *rows = [line.split() for line in shown.splitlines() if line.strip()]
        # one row per variant; columns: the path, then mean, std, interval and n of each headline metric
        assert len(rows) == len(files) and len(header) == 1 + 5 * len(e.headline), shown
    plots = json.loads(run(project, "dvc", "plots", "show", "--json").stdout)["data"]
    for e in registry.EXPERIMENTS:
        if e.curves:
            curves = [k for k in plots if k.startswith(f"results/{e.section}/summary/curves/")]
            assert curves and all(plots[k] for k in curves), e.section


def stages_run(dvc_output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", dvc_output))


def test_results_shared_through_an_s3_remote_rebuild_the_report_without_training(project, tmp_path):
    """A team pushes its results to an S3 remote (a local moto server here); a reviewer's fresh clone
    pulls them, `dvc status` is clean, and rebuilding the report runs no other stage. A Snakemake
    user gets the same results by `dvc pull` and the hand-off (make record-in-snakemake)."""
    clone = tmp_path / "clone"
    with s3.s3_server(tmp_path / "moto.log", "dlrepro-results") as endpoint:
        def use_remote(where: Path) -> None:
            # README: a team commits the remote's URL; the endpoint of a non-AWS server is per user
            run(where, "dvc", "remote", "add", "--local", "-f", "-d", "shared", "s3://dlrepro-results/embedded")
            run(where, "dvc", "remote", "modify", "--local", "shared", "endpointurl", endpoint)

        use_remote(project)
        run(project, "dvc", "commit", "--force")  # Snakemake's results handed to DVC
        assert dvc_changed(project) == set()
        pushed = run(project, "dvc", "push", env=s3.CREDENTIALS).stdout
        assert re.search(r"\d+ files pushed", pushed), pushed

        # the team commits the tree the results came from, with dvc.lock, which names what was pushed
        # (README: Sharing results); earlier tests left values in the tree that its HEAD lacks
        git(project, "add", "-A")
        git(project, "add", "-f", "dvc.lock")
        git(project, "commit", "-qm", "results of the embedded profile")
        git(tmp_path, "clone", "-q", str(project), str(clone))
        use_remote(clone)
        assert not (clone / "results").exists()
        run(clone, "dvc", "pull", env=s3.CREDENTIALS)
    assert dvc_changed(clone) == set()
    for metrics in project.glob("results/*/variants/*/metrics.json"):
        assert (clone / metrics.relative_to(project)).read_bytes() == metrics.read_bytes(), metrics

    # Snakemake sees the pulled results as current once it has recorded them
    rules = run(clone, "snakemake", "--list-rules").stdout.split()
    run(clone, "snakemake", "--cores", "2", *(r for r in rules if r.startswith("code_")))
    run(clone, "snakemake", "--touch", "--forceall", "--cores", "1")
    assert snakemake_plan(clone) == {}

    # the report rebuilt from pulled results (a plain `dvc repro` would check the pulled pages out
    # of the cache instead): no training, data or summary stage runs
    shutil.rmtree(clone / "reports" / "html")
    shutil.rmtree(clone / "reports" / "notebooks")
    assert stages_run(run(clone, "dvc", "repro", "--force", "--single-item", "report").stdout) == {"report"}
    assert dvc_changed(clone) == set()
    numbers = re.compile(r"\b\d+\.\d{3,}\b")
    index = "reports/html/index.html"
    assert numbers.findall((clone / index).read_text()) == numbers.findall((project / index).read_text())
    assert sorted(p.name for p in (clone / "reports/html").glob("*.html")) == \
        sorted(p.name for p in (project / "reports/html").glob("*.html"))


# What describes a run rather than its result: timings, and the commit (the S3 test commits the tree)
RUN_ONLY = {"wall_s", "train_seconds", "step_cost", "git_commit", "git_dirty"}
# A page's provenance table shows each run's commit and wall time: the one part of a page two runs differ in
PROVENANCE_TABLE = re.compile(rb'<h2 id="Provenance">.*?</table>', re.S)
COMMIT = re.compile(rb"\b[0-9a-f]{12}(?:[0-9a-f]{28})?\b")
# the index lists the distinct commits results came from: the cluster's results add one
COMMIT_LIST = re.compile(rb"<commit>(?: \(dirty\))?(?:, <commit>(?: \(dirty\))?)*")


def page_result(page: bytes) -> bytes:
    return COMMIT_LIST.sub(b"<commits>", COMMIT.sub(b"<commit>", PROVENANCE_TABLE.sub(b"", page)))


def without_timings(node):
    if isinstance(node, dict):
        return {k: without_timings(v) for k, v in node.items() if k not in RUN_ONLY}
    return [without_timings(v) for v in node] if isinstance(node, list) else node


def files_under(root: Path, folders: tuple[str, ...]) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for f in folders for p in sorted((root / f).rglob("*"))
            if p.is_file()}


@pytest.mark.cluster
def test_a_slice_of_the_pipeline_runs_on_slurm_as_it_runs_here(project, tmp_path):
    """A data, a training, a summary and the report stage submitted with sbatch to a real
    single-node SLURM cluster (started by the test) through profiles/slurm: their outputs equal the
    local run's byte for byte, provenance (files and the pages' tables) apart from timings and commit."""
    folders = ("data/mnist", "results/mnist_linear/variants", "results/mnist_linear/summary", "reports/html")
    local = files_under(project, folders)
    times = {p: (p.stat().st_atime_ns, p.stat().st_mtime_ns)
             for f in (*folders, "reports/notebooks") for p in [project / f, *(project / f).rglob("*")]}
    for folder in (*folders, "reports/notebooks"):
        shutil.rmtree(project / folder)
    # Only the slice's rules: the other MNIST families read data/mnist too, but are not part of it
    slice_rules = ("data_mnist", "train_mnist_linear", "summarize_mnist_linear", "report")
    command = ("snakemake", "--workflow-profile", "profiles/slurm", "--slurm-status-command", "squeue",
               "--slurm-init-seconds-before-status-checks", "1", "--allowed-rules", *slice_rules,
               "--", "results/mnist_linear/summary", "reports/html")
    planned = run(project, *command[:-3], "-n", *command[-3:]).stdout
    assert set(re.findall(r"^rule (\w+):", planned, re.M)) == set(slice_rules), planned
    try:
        with slurm.cluster(tmp_path / "slurm"):
            done = run(project, "timeout", "-k", "10", "1200", *command)
    finally:
        shutil.rmtree(project / ".snakemake" / "slurm_logs", ignore_errors=True)
        # the same bytes as before (asserted below): back to their old times, so the other families'
        # results stay current for the tests after this one, whatever this one finds
        for path, (atime, mtime) in sorted(times.items(), reverse=True):
            if path.exists():
                os.utime(path, ns=(atime, mtime))
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", done.stdout + done.stderr)
    assert len(submitted) == len(slice_rules), done.stderr[-3000:]
    cluster = files_under(project, folders)
    assert sorted(cluster) == sorted(local)
    for name, content in local.items():
        if name.endswith("provenance.json"):
            assert without_timings(json.loads(cluster[name])) == without_timings(json.loads(content)), name
        elif name.endswith(".html"):
            assert page_result(cluster[name]) == page_result(content), name
        else:
            assert cluster[name] == content, name
    assert snakemake_plan(project) == {}
