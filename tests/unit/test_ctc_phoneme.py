"""The CTC phone recogniser: its data (sequences, targets, speaker split), the model's handling of
padding and SpecAugment, the edit distance, the fast beam search, torch's and mytorch's CTC losses,
one tiny training stage, and its stages in both tools."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch

from dlrepro import registry
from dlrepro.data import audio, speech_gen
from dlrepro.data.speech_sequences import prepare, word_phones
from dlrepro.experiments import ctc_phoneme
from dlrepro.io import load_arrays, read_json, save_arrays
from dlrepro.models.ctc import CTCModel, freq_warp, spec_augment
from dlrepro.mytorch.decode import NGram, beam_search, edit_distance, error_rate
from dlrepro.mytorch.loss import log_softmax
from dlrepro.mytorch.proof.recurrent import sequence_probabilities, sequence_scores

RATE = 16000
VALUES = {"words": {"min": 2, "max": 4}, "gap_s": {"min": 0.01, "max": 0.05},
          "split": {"test_speakers": 2, "val_speakers": 0, "val_fraction": 0.5, "seed": 0},
          "sequences": {"train": 12, "val": 4, "test": 6}, "keep_audio": 3, "seed": 0}
MODEL = {"front": {"channels": [8, 8], "kernels": [5, 3], "strides": [2, 2]}, "kind": "lstm", "bidirectional": True,
         "hidden": 8, "layers": 2, "pyramidal": False, "dropout": 0.0, "normalise": "sequence"}


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    """5 speakers × 10 words, short made-up recordings (each word a tone at its own pitch and length)."""
    rng = np.random.default_rng(0)
    waves, speakers, labels = [], [], []
    for s in range(5):
        for w in range(10):
            n = int(RATE * (0.05 + 0.01 * w)) + int(rng.integers(0, 200))
            waves.append((0.3 * np.sin(2 * np.pi * (200 + 60 * w + 20 * s) * np.arange(n) / RATE)).astype(np.float32))
            speakers.append(s)
            labels.append(w)
    folder = tmp_path_factory.mktemp("utterances")
    save_arrays(folder, {"wave": np.concatenate(waves), "offsets": np.cumsum([0] + [len(w) for w in waves]),
                         "speaker": np.array(speakers), "label": np.array(labels)},
                {"source": "embedded", "sample_rate": RATE, "bandwidth_hz": 4000,
                 "speakers": [f"s{i}" for i in range(5)],
                 "labels": ["-".join(w) for w in speech_gen.WORDS]})
    return folder


@pytest.fixture(scope="module")
def sequences(utterances, tmp_path_factory):
    out = tmp_path_factory.mktemp("sequences") / "speech_sequences"
    prepare(VALUES, utterances, out)
    return out


# ---- data ----------------------------------------------------------------------------------------

def test_sequences_are_the_same_under_a_seed_and_differ_under_another(utterances, sequences, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    prepare(VALUES, utterances, again)
    prepare({**VALUES, "seed": 1}, utterances, other)
    names = ["mel", "phones", "source", "gap_samples", "speaker", "split", "wave"]
    first, second, third = (load_arrays(d, names) for d in (sequences, again, other))
    assert all(np.array_equal(first[k], second[k]) for k in names)
    assert read_json(sequences / "meta.json") == read_json(again / "meta.json")
    assert not np.array_equal(first["source"], third["source"])
    # the split is the split seed's alone: a new draw seed keeps the same speakers held out
    assert read_json(other / "meta.json")["test_speakers"] == read_json(sequences / "meta.json")["test_speakers"]


def test_test_speakers_are_never_trained_on_and_no_recording_is_in_two_splits(utterances, sequences):
    a = load_arrays(sequences, ["source", "word_offsets", "speaker", "split"])
    u = load_arrays(utterances, ["speaker"])
    meta = read_json(sequences / "meta.json")
    test_ids = [meta["speakers"].index(s) for s in meta["test_speakers"]]
    assert len(test_ids) == 2
    assert set(a["speaker"][a["split"] == 2]) <= set(test_ids)
    assert not set(a["speaker"][a["split"] < 2]) & set(test_ids)
    split_of_word = np.repeat(a["split"], np.diff(a["word_offsets"]))
    used = {k: set(a["source"][split_of_word == k]) for k in range(3)}
    assert not used[0] & used[1] and not used[0] & used[2] and not used[1] & used[2]
    # each sequence: one speaker, 2-4 distinct recordings
    for i in range(len(a["speaker"])):
        recs = a["source"][a["word_offsets"][i]:a["word_offsets"][i + 1]]
        assert 2 <= len(recs) <= 4 and len(set(recs)) == len(recs)
        assert set(u["speaker"][recs]) == {a["speaker"][i]}


def test_validation_speakers_are_held_out_whole_and_leave_the_test_speakers_as_they_were(utterances, sequences,
                                                                                        tmp_path):
    prepare({**VALUES, "split": {**VALUES["split"], "val_speakers": 1}}, utterances, tmp_path / "held")
    a = load_arrays(tmp_path / "held", ["speaker", "split"])
    meta, before = read_json(tmp_path / "held" / "meta.json"), read_json(sequences / "meta.json")
    assert meta["test_speakers"] == before["test_speakers"] and before["val_speakers"] == []
    assert len(meta["val_speakers"]) == 1 and len(meta["train_speakers"]) == 2
    assert not set(meta["val_speakers"]) & (set(meta["train_speakers"]) | set(meta["test_speakers"]))
    ids = {name: [meta["speakers"].index(s) for s in meta[f"{name}_speakers"]] for name in ("train", "val", "test")}
    for k, name in enumerate(("train", "val", "test")):
        assert set(a["speaker"][a["split"] == k]) == set(ids[name])
    with pytest.raises(ValueError, match="test_speakers 2 and val_speakers 3"):
        prepare({**VALUES, "split": {**VALUES["split"], "val_speakers": 3}}, utterances, tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_targets_frames_gaps_and_kept_audio_follow_the_recordings(utterances, sequences):
    a = load_arrays(sequences, ["mel", "frame_offsets", "phones", "phone_offsets", "words", "word_offsets", "source",
                                "gap_samples", "split", "wave", "wave_offsets"])
    u = load_arrays(utterances, ["wave", "offsets", "label"])
    names, ids = word_phones("embedded")
    assert names == sorted({p for w in speech_gen.WORDS for p in w})
    test = np.flatnonzero(a["split"] == 2)
    for i in range(len(a["split"])):
        w = slice(a["word_offsets"][i], a["word_offsets"][i + 1])
        gaps, recs = a["gap_samples"][w], a["source"][w]
        assert gaps[0] == 0 and np.all((gaps[1:] >= 0.01 * RATE) & (gaps[1:] <= 0.05 * RATE))
        assert np.array_equal(a["words"][w], u["label"][recs])
        expected = np.concatenate([ids[label] for label in u["label"][recs]])
        assert np.array_equal(a["phones"][a["phone_offsets"][i]:a["phone_offsets"][i + 1]], expected)
        wave = np.concatenate([np.concatenate([np.zeros(g, np.float32), u["wave"][u["offsets"][r]:u["offsets"][r + 1]]])
                               for g, r in zip(gaps, recs)])
        assert a["frame_offsets"][i + 1] - a["frame_offsets"][i] == 1 + len(wave) // audio.mel_hop(RATE)
        if i in test[:3]:
            k = int(np.flatnonzero(test == i)[0])
            assert np.array_equal(a["wave"][a["wave_offsets"][k]:a["wave_offsets"][k + 1]], wave)
            # the mel scale stops at the recordings' bandwidth
            assert np.allclose(a["mel"][a["frame_offsets"][i]:a["frame_offsets"][i + 1]], audio.log_mel(wave, RATE, 4000))
    assert len(a["wave_offsets"]) == 4


def test_too_few_recordings_for_the_longest_sequence_is_an_error(utterances, tmp_path):
    with pytest.raises(ValueError, match="fewer than words.max 6"):
        prepare({**VALUES, "words": {"min": 2, "max": 6}}, utterances, tmp_path / "x")
    with pytest.raises(ValueError, match="test_speakers 5"):
        prepare({**VALUES, "split": {**VALUES["split"], "test_speakers": 5}}, utterances, tmp_path / "y")


# ---- edit distance and decoding ------------------------------------------------------------------

@pytest.mark.parametrize("a, b, d", [("kitten", "sitting", 3), ("flaw", "lawn", 2), ("intention", "execution", 5),
                                     ("", "abc", 3), ("abc", "", 3), ("", "", 0), ([1, 2, 3], [1, 2, 3], 0),
                                     ([1, 2, 3], [3, 2, 1], 2)])
def test_edit_distance_of_known_cases(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def brute_force(a: tuple, b: tuple) -> int:
    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_edit_distance_matches_the_recursive_definition_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(300):
        a = tuple(rng.integers(0, 4, rng.integers(0, 9)).tolist())
        b = tuple(rng.integers(0, 4, rng.integers(0, 9)).tolist())
        assert edit_distance(a, b) == brute_force(a, b)


def test_error_rate_sums_edits_over_the_summed_reference_lengths():
    distances, rate = error_rate([[1, 2, 3, 4], [5, 6]], [[1, 2, 4], [5, 6, 7, 8]])
    assert distances.tolist() == [1, 2] and rate == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        error_rate([[1], [2]], [[1]])


def test_beam_search_keeps_the_true_probability_of_every_sequence_when_wide_enough():
    """Beam search (vectorised over beam and classes) against brute force over every path, with
    repeated labels and the blank in every position."""
    rng = np.random.default_rng(3)
    for steps, classes, blank in itertools.product((1, 3, 5), (2, 4), (0, 1)):
        log_probs = log_softmax(2.0 * rng.standard_normal((steps, classes)))
        truth = sequence_probabilities(log_probs, blank)
        found = beam_search(log_probs, classes ** steps, blank)
        assert dict(found.beam).keys() == truth.keys()
        for sequence, log_prob in found.beam:
            assert np.exp(log_prob) == pytest.approx(truth[sequence], rel=1e-10)


def test_beam_width_one_and_ties_are_deterministic():
    flat = np.log(np.full((6, 4), 0.25))  # every path equally likely: ties everywhere, broken by the prefix
    first, second = beam_search(flat, 3), beam_search(flat, 3)
    assert first == second
    scores = [s for _, s in first.beam]
    assert [p for p, _ in first.beam] == sorted((p for p, _ in first.beam), key=lambda p: (-dict(first.beam)[p], p))
    assert scores == sorted(scores, reverse=True)



def test_ngram_is_witten_bell_and_each_row_a_distribution():
    """Three sequences of labels 1..3 (blank 0 marks start and end), bigrams by hand:
    after 1 came 2, 2, 3 (3 times, 2 kinds), so P(2 | 1) = (2 + 2 · P_uni(2)) / (3 + 2), where the
    unigram level P_uni(c) = (count(c) + kinds · 1/4) / (total + kinds), over the 9 labels and ends."""
    lm = NGram([[1, 2], [1, 2], [1, 3]], order=2, classes=4, blank=0)
    unigram = (np.array([3, 3, 2, 1]) + 4 * 0.25) / (9 + 4)        # ends, 1s, 2s, 3s
    assert np.exp(lm.log_probs((1,))) == pytest.approx((np.array([0, 0, 2, 1]) + 2 * unigram) / 5)
    assert np.exp(lm.log_probs(()))[1] == pytest.approx((3 + 1 * unigram[1]) / 4)   # the start: always 1
    assert np.exp(lm.log_probs((3, 1, 2)))[0] == pytest.approx((2 + 1 * unigram[0]) / 3)  # only the last label counts
    for prefix in [(), (1,), (2,), (3,), (3, 3), (1, 2, 3)]:
        assert np.exp(lm.log_probs(prefix)).sum() == pytest.approx(1.0) and np.all(np.isfinite(lm.log_probs(prefix)))
    with pytest.raises(ValueError, match=r"outside 0..3 or the blank 0: \[1, 0\]"):
        NGram([[1, 0]], order=2, classes=4)
    with pytest.raises(ValueError, match="order 0"):
        NGram([[1]], order=0, classes=4)


def test_beam_search_with_an_ngram_finds_the_best_fused_score_when_wide_enough():
    """With every prefix kept, the beam's score of each sequence is log P_ctc + w · log P_lm (its end
    included) + bonus · length, by brute force over every path, and the result is its maximum."""
    rng = np.random.default_rng(5)
    for steps, classes, blank in itertools.product((2, 4), (3, 4), (0, 2)):
        labels = [c for c in range(classes) if c != blank]
        corpus = [rng.choice(labels, rng.integers(1, 4)).tolist() for _ in range(6)]
        lm = NGram(corpus, order=2, classes=classes, blank=blank)
        log_probs = log_softmax(1.5 * rng.standard_normal((steps, classes)))
        for weight, bonus in ((0.7, 0.0), (2.0, 1.0)):
            truth = sequence_scores(log_probs, blank, lm, weight, bonus)
            found = beam_search(log_probs, classes ** steps, blank, lm=lm, lm_weight=weight, insertion_bonus=bonus)
            assert dict(found.beam).keys() == truth.keys()
            for sequence, score in found.beam:
                assert score == pytest.approx(truth[sequence], rel=1e-10)
            assert found.log_prob == pytest.approx(max(truth.values()), rel=1e-10)
        plain = beam_search(log_probs, 3, blank)
        assert beam_search(log_probs, 3, blank, lm=lm, lm_weight=0.0) == plain  # weight 0: the acoustic beam


def test_an_ngram_overrules_a_weak_acoustic_preference():
    """Frames that favour "1" a little over "2"; an n-gram that has only ever seen "2" flips the decode."""
    log_probs = np.log(np.array([[0.1, 0.5, 0.4], [0.8, 0.1, 0.1]]))
    lm = NGram([[2]] * 5, order=2, classes=3)
    assert beam_search(log_probs, 4).sequence == (1,)
    assert beam_search(log_probs, 4, lm=lm, lm_weight=1.0).sequence == (2,)
    with pytest.raises(ValueError, match="need an lm"):
        beam_search(log_probs, 4, lm_weight=1.0)
    with pytest.raises(ValueError, match="an lm of 3 classes with blank 0, log_probs of 3 with blank 1"):
        beam_search(log_probs, 4, blank=1, lm=lm, lm_weight=1.0)

# ---- model ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("pyramidal", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_sequence_decodes_the_same_alone_or_padded_in_a_batch(kind, pyramidal):
    torch.manual_seed(0)
    model = CTCModel({**MODEL, "kind": kind, "pyramidal": pyramidal}, 40, 6, torch.zeros(40), torch.ones(40)).eval()
    x = torch.randn(3, 37, 40)
    lengths = torch.tensor([37, 21, 30])
    out, out_lengths = model(x, lengths)
    assert out_lengths.tolist() == model.out_lengths(lengths).tolist()
    assert out.shape[1] >= int(out_lengths.max())
    for n in range(3):
        alone, alone_length = model(x[n:n + 1, :lengths[n]], lengths[n:n + 1])
        assert int(alone_length) == int(out_lengths[n])
        torch.testing.assert_close(out[n, :out_lengths[n]], alone[0, :alone_length[0]], atol=1e-5, rtol=1e-5)
    expected = ((lengths - 1) // 2 + 1 - 1) // 2 + 1
    assert out_lengths.tolist() == (expected // 2 if pyramidal else expected).tolist()


def test_spec_augment_masks_bands_inside_each_sequence_and_only_in_training():
    x = torch.ones(64, 50, 40)
    lengths = torch.randint(10, 51, (64,))
    s = {"time_masks": 2, "time_width": 6, "freq_masks": 1, "freq_width": 5}
    out = spec_augment(x, lengths, s, torch.Generator().manual_seed(0))
    again = spec_augment(x, lengths, s, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    zero_frames = (out == 0).all(2)  # masked time steps (every band)
    zero_bands = (out == 0).all(1)   # masked bands (every frame)
    assert (zero_bands.sum(1) <= 5).all() and zero_bands.any()
    assert (zero_frames.sum(1) <= 12).all() and zero_frames.any()
    past = torch.arange(50)[None] >= lengths[:, None]
    assert not (zero_frames & past).any()  # only frames of the sequence are masked
    model = CTCModel(MODEL, 40, 6, torch.zeros(40), torch.ones(40))
    model.augment, model.generator = {**s, "freq_warp": 0.1}, torch.Generator().manual_seed(0)
    model.eval()
    y = torch.randn(2, 20, 40)
    torch.testing.assert_close(model(y, torch.tensor([20, 20]))[0], model(y, torch.tensor([20, 20]))[0])


def test_freq_warp_stretches_each_sequences_band_axis_by_its_own_factor():
    ramp = torch.arange(40.0).expand(8, 5, 40)  # band b holds b
    out = freq_warp(ramp, 0.2, torch.Generator().manual_seed(0))
    factor = 1 + 0.2 * (2 * torch.rand(8, 1, generator=torch.Generator().manual_seed(0)) - 1)
    expected = (torch.arange(40.0)[None] / factor).clamp(max=39)
    torch.testing.assert_close(out[:, 0], expected)
    assert torch.equal(out[:, 0], out[:, 4])  # the same warp on every frame of a sequence
    assert torch.equal(freq_warp(ramp, 0.0, torch.Generator().manual_seed(0)), ramp)


def test_torch_and_mytorch_ctc_losses_agree_on_a_sample(sequences):
    a = load_arrays(sequences, ctc_phoneme.ARRAYS)
    meta = read_json(sequences / "meta.json")
    torch.manual_seed(0)
    data = ctc_phoneme.Sequences(a, torch.device("cpu"))
    net = ctc_phoneme.OnSequences(CTCModel({**MODEL, "front": {**MODEL["front"], "strides": [1, 1]}}, 40,
                                           len(meta["phones"]) + 1, torch.zeros(40), torch.ones(40)), data)
    assert ctc_phoneme.ctc_agreement(net, np.arange(6)) < 1e-10
    # the measure can fail: the same loss of log-probabilities nudged by 1e-3 differs by more than 1e-5
    rng = np.random.default_rng(0)
    log_probs = log_softmax(rng.standard_normal((12, 3, 5)))
    targets, lengths, target_lengths = rng.integers(1, 5, (3, 4)), np.array([12, 10, 8]), np.array([4, 3, 2])
    assert ctc_phoneme.ctc_relative_difference(log_probs, targets, lengths, target_lengths) < 1e-10
    import dlrepro.mytorch.ctc as my
    forward = my.CTCLoss.forward
    try:
        my.CTCLoss.forward = lambda self, lp, *rest: forward(self, lp + 1e-3, *rest)
        assert ctc_phoneme.ctc_relative_difference(log_probs, targets, lengths, target_lengths) > 1e-5
    finally:
        my.CTCLoss.forward = forward


def test_batches_gather_each_sequences_frames_and_targets(sequences):
    a = load_arrays(sequences, ctc_phoneme.ARRAYS)
    data = ctc_phoneme.Sequences(a, torch.device("cpu"))
    idx = torch.tensor([3, 0, 7])
    frames, lengths = data.batch(idx)
    targets, target_lengths = data.targets(idx)
    fo, po = a["frame_offsets"], a["phone_offsets"]
    for row, i in enumerate(idx.tolist()):
        assert int(lengths[row]) == fo[i + 1] - fo[i]
        assert np.array_equal(frames[row, :lengths[row]].numpy(), a["mel"][fo[i]:fo[i + 1]])
        assert (frames[row, lengths[row]:] == 0).all()
        assert np.array_equal(targets[row, :target_lengths[row]].numpy(), a["phones"][po[i]:po[i + 1]] + 1)


# ---- the stage -----------------------------------------------------------------------------------

def test_a_tiny_stage_decodes_every_test_sequence_with_every_decoder(sequences, tmp_path):
    values = {"model": {**MODEL, "front": {**MODEL["front"], "strides": [1, 1]}},
              "specaugment": {"time_masks": 1, "time_width": 3, "freq_masks": 1, "freq_width": 3, "freq_warp": 0.1},
              "eval": {"beam_widths": [1, 4], "examples": 2, "ctc_check": 3,
                       "lm": {"order": 2, "weight": 0.5, "insertion_bonus": 0.0}},
              "train": {"optimizer": "adam", "lr": 0.01, "lr_schedule": "cosine", "batch_size": 4, "epochs": 2,
                        "seeds": [0]}}
    metrics = ctc_phoneme.train(sequences, values, {"device": "cpu", "threads": 1}, tmp_path / "runs",
                                tmp_path / "metrics.json", tmp_path / "provenance.json", "tiny")
    run = read_json(tmp_path / "runs" / "seed0" / "metrics.json")
    for d in ("greedy", "beam1", "beam4", "beam4_lm"):
        assert run[f"test_per_{d}"] >= 0 and run[f"test_mean_edit_distance_{d}"] >= 0
    assert run["test_per"] == run["test_per_beam4"] and metrics["test_per"]["n"] == 1
    assert run["beam_minus_greedy_per"] == pytest.approx(run["test_per_beam4"] - run["test_per_greedy"])
    assert run["lm_minus_beam_per"] == pytest.approx(run["test_per_beam4_lm"] - run["test_per_beam4"])
    assert run["ctc_relative_difference"] < 1e-6
    examples = read_json(tmp_path / "runs" / "seed0" / "examples.json")
    assert set(examples) == {"greedy", "beam1", "beam4", "beam4_lm"} and all(len(v) == 2 for v in examples.values())
    assert (tmp_path / "runs" / "seed0" / "model.pt").is_file()
    # width 1 keeps one prefix, the best path's collapse up to ties: the same PER as greedy here
    assert run["test_per_beam1"] == pytest.approx(run["test_per_greedy"], abs=0.2)


def test_both_tools_get_the_data_and_every_variant_as_stages():
    """Snakemake's rules and dvc.yaml come from the same registry stages; the committed dvc.yaml
    holds this family's stages exactly as the generator writes them (the full two-tool comparison
    is tests/integration/test_dag_parity.py)."""
    import yaml

    from dlrepro import dvc_yaml

    stages = {s.name: s for s in registry.dvc_stages()}
    ours = {"data_speech_sequences", "train_ctc_phoneme", "summarize_ctc_phoneme"}
    assert ours <= set(stages)
    committed = yaml.safe_load(open("dvc.yaml"))["stages"]
    for name in ours:
        entry = yaml.safe_load(yaml.safe_dump(dvc_yaml.stage_entry(stages[name])))
        entry, found = entry.get("do", entry), committed[name].get("do", committed[name])
        assert {k: found[k] for k in ("cmd", "deps", "outs")} == {k: entry[k] for k in ("cmd", "deps", "outs")}, name
    assert committed["train_ctc_phoneme"]["foreach"] == "${ctc_phoneme.variants}"
    assert "--data data/speech_sequences" in committed["train_ctc_phoneme"]["do"]["cmd"]
