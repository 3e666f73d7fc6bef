"""The frame-phoneme family: forced-alignment labels, context windows, the speaker split, the stages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlrepro import registry
from dlrepro.data import audio, phones, speech_alignment, speech_utterances
from dlrepro.experiments import frame_phoneme
from dlrepro.io import load_arrays
from dlrepro.models.frame import ContextMLP, pad_utterances

RATE = 16000
SPLIT = {"test_speakers": 2, "val_fraction": 0.2, "seen_test_fraction": 0.2, "seed": 0}


def test_frame_labels_take_the_segment_under_each_frame_centre_and_its_third():
    # two utterances of 9 and 4 frames (hop 10); segments in samples within each utterance
    frame_offsets = np.array([0, 9, 13])
    seg_utt = np.array([0, 0, 0, 1, 1])
    seg_start = np.array([0, 20, 45, 5, 12])
    seg_end = np.array([20, 45, 90, 12, 40])
    seg_phone = np.array([0, 3, 1, 2, 0])
    phone, state = speech_alignment.frame_labels(frame_offsets, seg_utt, seg_start, seg_end, seg_phone, 10, 3)
    # utterance 0 centres 0..80: 0, 10 -> phone 0; 20 (a segment's first sample), 30, 40 -> 3; 50..80 -> 1
    assert phone.tolist()[:9] == [0, 0, 3, 3, 3, 1, 1, 1, 1]
    # thirds: [0,20): 0 -> 0, 10 -> 1; [20,45): 20 -> 0, 30 -> 1, 40 -> 2; [45,90): 50 -> 0, 60 -> 1, 70 -> 1, 80 -> 2
    assert state.tolist()[:9] == [0, 1, 9, 10, 11, 3, 4, 4, 5]
    # utterance 1: the centre 0 lies before its first segment (at 5): that segment, never the previous
    # utterance's last one; [12, 40) holds the centres 20 and 30
    assert phone.tolist()[9:] == [2, 2, 0, 0] and state.tolist()[9:] == [6, 8, 0, 1]
    with pytest.raises(ValueError, match="sorted"):
        speech_alignment.frame_labels(frame_offsets, seg_utt[::-1], seg_start, seg_end, seg_phone, 10, 3)


def test_context_windows_are_gathered_inside_each_utterance_with_zero_padding():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(7, 3)).astype(np.float32)
    offsets = np.array([0, 4, 7])
    padded, position = pad_utterances(frames, offsets, 2)
    assert padded.shape == (7 + 2 * 2 * 2, 3)
    assert np.array_equal(padded[position], frames) and position[0] == 2  # after the first utterance's padding
    model = ContextMLP(torch.from_numpy(padded), 2, [4], 5)
    window = model.frames[torch.from_numpy(position)[:, None] + model.window].numpy()  # what forward() flattens
    for f in range(7):
        u = 0 if f < 4 else 1
        for k, d in enumerate(range(-2, 3)):
            inside = offsets[u] <= f + d < offsets[u + 1]
            expected = frames[f + d] if inside else np.zeros(3, np.float32)
            assert np.array_equal(window[f, k], expected), (f, d)
    assert model(torch.from_numpy(position)).shape == (7, 5)
    assert not any(k.startswith(("frames", "window")) for k in model.state_dict())  # data stays out of checkpoints


def test_speaker_split_is_seeded_and_keeps_unseen_speakers_out_of_training():
    speaker = np.repeat(np.arange(8), 10)
    sets = frame_phoneme.split_utterances(speaker, SPLIT)
    assert np.array_equal(sets, frame_phoneme.split_utterances(speaker, SPLIT))  # the same under one seed
    assert not np.array_equal(sets, frame_phoneme.split_utterances(speaker, {**SPLIT, "seed": 1}))
    unseen = np.unique(speaker[sets == 3])
    assert len(unseen) == 2 and not np.isin(speaker[sets != 3], unseen).any()
    for s in np.setdiff1d(np.arange(8), unseen):  # every training speaker: 6 train, 2 validation, 2 seen-test
        assert np.bincount(sets[speaker == s], minlength=4).tolist() == [6, 2, 2, 0]
    with pytest.raises(ValueError, match="test_speakers 8"):
        frame_phoneme.split_utterances(speaker, {**SPLIT, "test_speakers": 8})
    with pytest.raises(ValueError, match="leave no training"):
        frame_phoneme.split_utterances(speaker, {**SPLIT, "val_fraction": 0.5, "seen_test_fraction": 0.5})


def small_alignment(tmp_path, n_speakers: int = 6):
    values = {"source": "embedded", "sample_rate": RATE, "resample": True,
              "embedded": {"n_speakers": n_speakers, "takes": 1, "noise_seconds": 1, "seed": 3}}
    speech_utterances.prepare(values, tmp_path / "su")
    meta = speech_alignment.prepare({"states_per_phone": 3}, tmp_path / "su", tmp_path / "sa")
    return meta, tmp_path / "su", tmp_path / "sa"


def test_embedded_alignment_labels_every_frame_from_the_generator(tmp_path):
    meta, su, sa = small_alignment(tmp_path)
    u = load_arrays(su, ["wave", "offsets", "phone_utt", "phone_id", "phone_start", "phone_end"])
    a = load_arrays(sa, ["utt", "logmel", "frame_offsets", "frame_phone", "frame_state", "phone_utt"])
    assert meta["n_kept"] == meta["n_utterances"] == 60 and meta["failed"] == []
    assert a["frame_offsets"][-1] == len(a["logmel"]) == len(a["frame_phone"])
    o, hop = u["offsets"], audio.mel_hop(RATE)
    assert np.array_equal(np.diff(a["frame_offsets"]), 1 + np.diff(o) // hop)  # log_mel's frame count
    i = 5  # one utterance checked by a plain loop over its frames
    rows = u["phone_utt"] == i
    for t in range(a["frame_offsets"][i + 1] - a["frame_offsets"][i]):
        c = t * hop
        k = np.flatnonzero(rows & (u["phone_start"] <= c) & (c < u["phone_end"]))
        k = k[0] if len(k) else np.flatnonzero(rows)[-1]  # a centre at the very end: the last segment
        part = min(3 * (c - u["phone_start"][k]) // (u["phone_end"][k] - u["phone_start"][k]), 2)
        assert a["frame_phone"][a["frame_offsets"][i] + t] == u["phone_id"][k]
        assert a["frame_state"][a["frame_offsets"][i] + t] == u["phone_id"][k] * 3 + part
    assert np.allclose(a["logmel"][a["frame_offsets"][i]:a["frame_offsets"][i + 1]], audio.log_mel(u["wave"][o[i]:o[i + 1]], RATE))


def test_failed_recordings_are_listed_and_left_out(tmp_path, monkeypatch):
    values = {"source": "embedded", "sample_rate": RATE, "resample": True,
              "embedded": {"n_speakers": 4, "takes": 1, "noise_seconds": 1, "seed": 3}}
    speech_utterances.prepare(values, tmp_path / "su")
    meta = json.loads((tmp_path / "su" / "meta.json").read_text())
    meta["source"] = "download"  # as if FSDD: the aligner runs
    (tmp_path / "su" / "meta.json").write_text(json.dumps(meta))

    class FakeAligner:
        def __init__(self, sample_rate):
            pass

        def align(self, wave, word):
            if len(wave) % 3 == 0:
                return [], "no alignment path"
            return [(0, 0, len(wave) // 2), (phones.phone_set().index(phones.digit_phones(1)[0]), len(wave) // 2, len(wave))], None

    monkeypatch.setattr(speech_alignment, "Aligner", FakeAligner)
    out = speech_alignment.prepare({"states_per_phone": 3}, tmp_path / "su", tmp_path / "sa")
    u = load_arrays(tmp_path / "su", ["offsets"])
    bad = np.flatnonzero(np.diff(u["offsets"]) % 3 == 0)
    assert len(bad) and [f["utterance"] for f in out["failed"]] == bad.tolist()
    assert all(f["reason"] == "no alignment path" for f in out["failed"])
    a = load_arrays(tmp_path / "sa", ["utt", "phone_utt", "frame_offsets"])
    assert np.array_equal(a["utt"], np.setdiff1d(np.arange(40), bad))  # left out, never guessed
    assert out["n_kept"] + out["n_failed"] == 40 and a["phone_utt"].max() == len(a["utt"]) - 1


def test_family_trains_tests_and_summarises(tmp_path):
    _, _, sa = small_alignment(tmp_path, n_speakers=6)
    train = {"optimizer": "adam", "lr": 0.003, "lr_schedule": "cosine", "batch_size": 256, "epochs": 2, "seeds": [0, 1]}
    runtime = {"device": "cpu", "threads": 1}
    variants = {"c2": {"target": "phone", "context": 2}, "st": {"target": "state", "context": 2},
                "c0": {"target": "phone", "context": 0}}
    for v, model in variants.items():
        values = {"split": SPLIT, "baseline": {"max_iter": 50}, "train": train,
                  "model": {"hidden": [32, 16], "dropout": 0.1, "batchnorm": True, **model}}
        out = tmp_path / "results" / v
        metrics = frame_phoneme.train(sa, values, runtime, out / "runs", out / "metrics.json", out / "provenance.json", v)
        for k in ("unseen_frame_accuracy", "seen_frame_accuracy", "baseline_unseen_frame_accuracy"):
            assert 0 < metrics[k]["mean"] <= 1 and metrics[k]["n"] == 2
        # the baseline is deterministic: one fit, the same value in every seed's row
        assert metrics["baseline_unseen_frame_accuracy"]["std"] == 0
        counts = np.load(out / "runs" / "seed0" / "unseen_confusion.npy")
        assert counts.shape == (21, 21)
        prov = json.loads((out / "provenance.json").read_text())
        assert counts.sum() == prov["data"]["frames"]["unseen"]
        # the confusion's diagonal is the phone accuracy of that seed
        seed0 = prov["per_seed"][0]
        assert np.trace(counts) / counts.sum() == pytest.approx(seed0["unseen_phone_accuracy"])
        if v != "st":
            assert seed0["unseen_phone_accuracy"] == seed0["unseen_frame_accuracy"]
    table = frame_phoneme.summarize(sa, tmp_path / "results", list(variants), {"split": SPLIT}, runtime,
                                    tmp_path / "summary")
    assert set(table["variant"]) == set(variants) and table["unseen_frame_accuracy"].notna().all()
    for name in ("confusion.png", "ablation.png", "example.png", "results.csv", "summary.json", "variants.json"):
        assert (tmp_path / "summary" / name).is_file(), name
    assert json.loads((tmp_path / "summary" / "summary.json").read_text())["headline_variant"] == "c2"


def test_stages_are_declared_once_for_both_tools():
    names = {s.name for s in registry.stages()}
    assert {"data_speech_alignment", "train_frame_phoneme", "summarize_frame_phoneme"} <= names
    dvc = (registry.PACKAGE.parents[1] / "dvc.yaml").read_text()
    for name in ("data_speech_alignment:", "train_frame_phoneme:", "summarize_frame_phoneme:"):
        assert name in dvc
    stage = next(s for s in registry.stages() if s.name == "data_speech_alignment")
    assert "data/speech_utterances" in stage.deps


@pytest.mark.realdata
def test_pocketsphinx_aligns_real_fsdd_digits_to_their_phones(mirror, monkeypatch):
    aligner = speech_alignment.Aligner(RATE)
    for name, digit in (("7_lucas_1.wav", 7), ("9_george_4.wav", 9), ("3_yweweler_5.wav", 3), ("0_nicolas_5.wav", 0)):
        wave = audio.read_wav(mirror / "fsdd" / "recordings" / name, RATE, resample=True)
        rows, reason = aligner.align(wave, phones.DIGIT_WORDS[digit])
        assert reason is None, (name, reason)
        names = phones.phone_set()
        said = tuple(names[p] for p, _, _ in rows if names[p] != "SIL")
        if digit == 0:
            assert said in phones.pronunciations()["zero"]  # either of zero's two
        else:
            assert said == phones.digit_phones(digit), name
        starts, ends = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
        assert starts[0] == 0 and ends[-1] == len(wave) and np.array_equal(starts[1:], ends[:-1])  # every sample once
        assert np.all(starts[1:] % 160 == 0)  # boundaries where pocketsphinx's frames start (module docstring)
    # silence cannot be aligned to a word: it is a failure with a reason, not a guess
    rows, reason = aligner.align(np.zeros(RATE // 10, np.float32), "seven")
    assert rows == [] and reason
    # phones that are no pronunciation of the word (here: a dictionary without seven's) are refused
    monkeypatch.setattr(phones, "pronunciations", lambda: {"seven": (("S", "EH", "V", "N"),)})
    rows, reason = aligner.align(audio.read_wav(mirror / "fsdd" / "recordings" / "7_lucas_1.wav", RATE, resample=True),
                                 "seven")
    assert rows == [] and reason == "aligned phones S EH V AH N are no pronunciation of 'seven'"


def test_an_original_on_another_corpus_gets_no_verdict(tmp_path):
    from dlrepro.report.reference import compare

    ours = {"mean": 0.70, "std": 0.01, "low": 0.68, "high": 0.72, "n": 3}
    data = {"source": "download", "n_train": "1 frames", "n_val": "1 frames", "n_test": "1 frames"}
    summary = tmp_path / "results" / "frame_phoneme" / "summary"
    summary.mkdir(parents=True)
    (summary / "variants.json").write_text(json.dumps({"states": {"unseen_frame_accuracy": ours, "data": data}}))
    reference = tmp_path / "reference.csv"
    reference.write_text("id,experiment,variant,metric,higher_is_better,original,original_setting,original_measured\n"
                         "frame-phoneme,frame_phoneme,states,unseen_frame_accuracy,true,0.7643,MLP,"
                         "not comparable: another corpus\n")
    row = compare(reference, tmp_path / "results").iloc[0]
    assert row["verdict"] == "not comparable" and row["ours"] == "0.7000 [0.6800, 0.7200]"
    reference.write_text(reference.read_text().replace("not comparable: another corpus", "validation accuracy"))
    assert compare(reference, tmp_path / "results").iloc[0]["verdict"] == "falls short"  # judged against 0.7643 ± 0.01
