"""The speech family's denoiser on the real course pair from the mirror. Its stages on the
embedded profile are tested with the whole pipeline (test_pipeline.py), whose run includes them."""

from __future__ import annotations

import os

import pytest

from dlrepro.train.provenance import read_result
from tests.integration.test_pipeline import edit_params, run

pytestmark = pytest.mark.slow


@pytest.mark.realdata
def test_denoiser_on_the_real_course_pair_beats_the_noisy_input(project, mirror):
    """A short schedule (3 epochs, one seed) of the 2x1024 mask FC on the real pair, held out."""
    def short(p):
        p["runtime"]["threads"] = 1  # two test workers share two cores: torch threads must not fight
        p["denoise"]["variants"]["fc2"].update(train={"epochs": 3, "seeds": [0]})

    edit_params(project, short)
    env = {"DLREPRO_MIRROR": str(mirror)}
    run(project, "dlrepro", "data", "speech_denoise", "--profile", "full", "--out", "data/sd", env=env)
    run(project, "dlrepro", "train", "denoise", "--variant", "fc2", "--profile", "full", "--data", "data/sd",
        "--runs", "r/runs", "--metrics", "r/metrics.json", "--provenance", "r/provenance.json",
        env={**env, "PATH": os.environ["PATH"]})
    m = read_result(project / "r")
    assert m["data"]["source"] == "download" and m["data"]["n_test"] == "15.7 s"
    assert 7.0 < m["noisy_snr_db"] < 7.8
    assert m["test_snr_db"]["mean"] > m["noisy_snr_db"] + 4  # held out; 3 epochs already gain > 4 dB
