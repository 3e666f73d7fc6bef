"""The speech family through its real stages: Snakemake on the embedded profile (short schedules),
and the denoiser on the real course pair from the mirror."""

from __future__ import annotations

import json
import os

import pytest

from dlrepro.train.provenance import read_result
from tests.conftest import copy_project, git, restore_files
from tests.integration.test_pipeline import SPEECH, assert_retrains_identically, edit_params, run, shorten_speech

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def speech_project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("speech") / "project")
    edit_params(project, shorten_speech)
    git(project, "commit", "-qam", "shorter speech schedule for tests")
    run(project, "snakemake", "--cores", "2", *(f"results/{s}/summary" for s in SPEECH))
    return project


def test_every_speech_stage_ran_with_intervals_over_seeds(speech_project):
    root = speech_project / "results"
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


def test_speech_stages_are_byte_stable(speech_project, tmp_path):
    assert_retrains_identically(speech_project, tmp_path / "again", "denoise", "fc2", "data/speech_denoise",
                                ("seed0/model.pt", "seed0/denoised_test_part.wav", "seed1/history.csv"))


def test_one_speech_variant_reruns_only_itself(speech_project):
    saved = edit_params(speech_project, lambda p: p["siamese"]["variants"]["bilstm"]["model"].update(embedding=32))
    out = run(speech_project, "snakemake", "-n", "results/siamese/summary").stdout
    assert "train_siamese" in out and "summarize_siamese" in out
    assert "train_denoise" not in out and "data_speech_features" not in out
    restore_files(saved)


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
