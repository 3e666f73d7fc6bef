"""The real profile, shortened, through real Snakemake on the mirror's datasets.

`snakemake --cores all --config profile=real` runs every family on real data within 90 minutes
on 2 cores (README); CI runs the same profile, the same rules and the same download path on three
families with one or two seeds and fewer steps, so that it takes minutes. Two families run whole,
up to their summaries, so that the comparison with the originals gives real verdicts; the MLP grid
runs its two extreme cells only (its summary needs all 37).
"""

from __future__ import annotations

import json

import pytest

from dlrepro.report.reference import VERDICTS, compare
from dlrepro.train.provenance import read_result
from tests.integration.test_pipeline import edit_params, run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
GRID_CELLS = ("sigmoid_normal_sgd", "relu_he_normal_adam")


def shorten_real(p: dict) -> None:
    """The real profile with fewer seeds and steps; the datasets and everything else as it is."""
    real = {section: p[section]["profiles"]["real"] for section in
            ("mnist_mlp", "svd_compress", "mlp_ablation", "fmnist_mlp_grid")}
    p["runtime"]["profiles"]["real"]["threads"] = 1  # two stages side by side: xdist's other worker shares the cores
    # The compression family's baseline two hidden layers of 512, not five of 1024: its 16 stages
    # evaluate every model on 15,000 images, which at full size took most of this test's time.
    real["mnist_mlp"].update(model={"hidden": [512, 512]}, train={"epochs": 1, "seeds": [0]})
    real["svd_compress"]["finetune"] = {"epochs": 1, "steps": 40}
    real["mlp_ablation"]["train"] = {"epochs": 1, "seeds": [0]}
    del real["mlp_ablation"]["variants"]  # one seed for the quoted cells too
    real["fmnist_mlp_grid"].update(train={"steps": 300, "seeds": [0]},
                                   variants={"relu_uniform": {"train": {"seeds": [0, 1]}}})


def test_shortened_real_profile_gives_real_verdicts(project, mirror):
    edit_params(project, shorten_real)
    targets = ["results/svd_compress/summary", "results/fmnist_mlp_grid/summary",  # folders: directory() outputs
               *(f"results/mlp_ablation/variants/{v}/metrics.json" for v in GRID_CELLS)]
    run(project, "snakemake", *targets, "--cores", "2", "--config", "profile=real", env={"DLREPRO_MIRROR": str(mirror)})

    def result(family, variant):
        return read_result(project / "results" / family / "variants" / variant)

    # Real MNIST through the download path, as the stages saw it.
    baseline = result("mnist_mlp", "default")
    assert baseline["data"] == {"source": "download", "n_train": 55000, "n_val": 5000, "n_test": 10000}
    assert baseline["test_accuracy"]["mean"] >= 0.95

    # The compression family keeps the original's shape: rank 10 far below rank 50, full rank equal
    # to the baseline, and 40 fine-tuning steps recover much of rank 20's loss.
    acc = {v: result("svd_compress", v)["test_accuracy"]["mean"] for v in ("svd_d10", "svd_d20", "svd_d50",
                                                                            "svd_full", "finetune_d20")}
    assert acc["svd_d10"] < acc["svd_d50"] - 0.05, acc
    assert acc["svd_full"] == pytest.approx(baseline["test_accuracy"]["mean"], abs=2e-4)
    assert acc["finetune_d20"] > acc["svd_d20"] + 0.01, acc

    # The MLP grid's extremes: sigmoid + N(0, 0.01) + plain SGD stays at chance, ReLU + He + Adam learns.
    grid = {v: result("mlp_ablation", v) for v in GRID_CELLS}
    assert grid["relu_he_normal_adam"]["params"]["model"]["width"] == 512  # the real profile's network
    assert grid["sigmoid_normal_sgd"]["test_accuracy"]["mean"] <= 0.2  # chance: 0.1135
    assert grid["relu_he_normal_adam"]["test_accuracy"]["mean"] >= 0.95

    # Fashion-MNIST's grid on the real data, and real verdicts for every row of the two whole families.
    assert result("fmnist_mlp_grid", "relu_uniform")["data"]["n_train"] == 55000
    table = compare(project / "reports/reference.csv", project / "results")
    ran = table[table["experiment"].isin(["svd_compress", "fmnist_mlp_grid"])]
    assert len(ran) == 13 and set(ran["verdict"]) <= set(VERDICTS), ran[["id", "variant", "verdict", "why"]]
    assert (ran["data"].str.startswith("real")).all(), ran["data"]
    two_seeds = ran[ran["variant"] == "relu_uniform"].iloc[0]
    assert two_seeds["seeds"] == 2 and "no interval" not in two_seeds["why"]
    assert set(table[~table.index.isin(ran.index)]["verdict"]) == {"not run"}

    # The README block comes from the same comparison and names the run's commit.
    run(project, "dlrepro", "readme", "--profile", "real")
    readme = (project / "README.md").read_text()
    head = next(line for line in readme.splitlines() if line.startswith("Profile `real`, results of commit "))
    commit = json.loads((project / "results/fmnist_mlp_grid/summary/provenance.json").read_text())
    assert next(iter(commit.values()))["git_commit"][:12] in head
    assert "#### fmnist_mlp_grid" in readme and "#### svd_compress" in readme
