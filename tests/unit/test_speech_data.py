"""Speech data: the procedural speakers, the course pair, FSDD checksums, features and pair lists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlrepro.data import audio, speech_denoise, speech_features, speech_gen, speech_utterances
from dlrepro.data.sources import DataError
from dlrepro.io import load_arrays

RATE = speech_gen.RATE


def pitch_hz(wave: np.ndarray) -> float:
    """Autocorrelation pitch estimate between 70 and 300 Hz."""
    x = wave - wave.mean()
    ac = np.correlate(x, x, "full")[len(x) - 1:]
    lo, hi = RATE // 300, RATE // 70
    return RATE / (lo + np.argmax(ac[lo:hi]))


def test_generated_speakers_have_their_own_pitch_and_aligned_phonemes():
    rng = np.random.default_rng(0)
    speakers = speech_gen.draw_speakers(70, rng)
    assert len(speakers) == 70 and len({round(s["f0"], 3) for s in speakers}) == 70
    low, high = min(speakers, key=lambda s: s["f0"]), max(speakers, key=lambda s: s["f0"])
    for speaker in (low, high):
        wave, align = speech_gen.say(("a", "e", "s"), speaker, rng)
        names = [speech_gen.PHONE_NAMES[p] for p, _, _ in align]
        assert names == ["sil", "a", "e", "s", "sil"]
        assert align[0][1] == 0 and align[-1][2] == len(wave)
        assert all(a[2] == b[1] for a, b in zip(align[:-1], align[1:]))  # contiguous
        _, start, end = align[1]
        vowel = wave[start:end]
        # the vowel is voiced at (about) the speaker's pitch; the fricative is noise without one
        assert pitch_hz(vowel) == pytest.approx(speaker["f0"], rel=0.2)
        _, s0, s1 = align[3]
        fric = wave[s0:s1]
        spectrum = np.abs(np.fft.rfft(fric)) ** 2
        freqs = np.fft.rfftfreq(len(fric), 1 / RATE)
        assert spectrum[freqs > 3000].sum() > 3 * spectrum[freqs < 1500].sum()


def test_utterances_and_noise_bank_are_seeded_and_labelled():
    def build(seed):
        rng = np.random.default_rng(seed)
        u = speech_gen.utterances(speech_gen.draw_speakers(3, rng), 1, rng)
        return u, speech_gen.noise_bank(1.0, rng)

    (u, bank), (u2, _) = build(5), build(5)
    assert np.array_equal(u["wave"], u2["wave"])
    assert len(u["speaker"]) == 3 * len(speech_gen.WORDS)
    assert np.array_equal(np.bincount(u["label"]), np.full(10, 3))
    assert u["offsets"][-1] == len(u["wave"])
    assert set(np.unique(u["phone_utt"])) == set(range(len(u["speaker"])))
    kinds = {k: bank["noise"][bank["noise_offsets"][i]:bank["noise_offsets"][i + 1]]
             for i, k in enumerate(speech_gen.NOISE_KINDS)}
    f = np.fft.rfftfreq(RATE, 1 / RATE)

    def low_share(x):
        p = np.abs(np.fft.rfft(x[:RATE])) ** 2
        return p[f < 500].sum() / p.sum()

    assert low_share(kinds["brown"]) > low_share(kinds["pink"]) > low_share(kinds["white"])
    hum = np.abs(np.fft.rfft(kinds["hum"][:RATE]))
    assert f[np.argmax(hum)] in (50.0, 60.0)


def embedded_values(**changes):
    values = {"source": "embedded", "local_path": None, "sample_rate": RATE, "resample": False,
              "split": {"val_fraction": 0.1, "test_fraction": 0.2},
              "embedded": {"seconds": 8, "test_seconds": [1.0], "snr_db": 6.5, "seed": 0}}
    values.update(changes)
    return values


def test_course_pair_parts_are_contiguous_and_cut_at_the_hop(tmp_path):
    meta = speech_denoise.prepare(embedded_values(), tmp_path / "sd")
    a = load_arrays(tmp_path / "sd", ["clean", "dirty", "bounds", "noisy_mag", "clean_mag", "ibm", "frame_bounds",
                                      "test_offsets"])
    assert len(a["test_offsets"]) == 2  # one generated test file
    b = a["bounds"]
    assert b[0] == 0 and b[-1] == len(a["clean"]) and np.all(b[1:-1] % audio.HOP == 0)
    assert list(np.diff(a["frame_bounds"])) == [audio.n_frames(n) for n in np.diff(b)]
    assert meta["noisy_snr_db"]["train"] == pytest.approx(6.5, abs=1.0)
    # the ideal binary mask is 1 exactly where the clean magnitude exceeds the noise's
    test = slice(b[2], b[3])
    noise_mag = np.abs(audio.stft(a["dirty"][test] - a["clean"][test]))
    fb = a["frame_bounds"]
    assert np.array_equal(a["ibm"][fb[2]:fb[3]].astype(bool), a["clean_mag"][fb[2]:fb[3]] > noise_mag)


def test_course_pair_from_a_mirror_with_a_bad_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mirror" / "speech-denoise"
    folder.mkdir(parents=True)
    for name, _ in speech_denoise.FILES.values():
        (folder / name).write_bytes(audio.encode_wav(rng.normal(0, 0.1, 4000), RATE))
    monkeypatch.setenv("DLREPRO_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(DataError, match=r"train_clean_male\.wav: checksum mismatch"):
        speech_denoise.prepare(embedded_values(source="download"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # a local copy is read by structure: a truncated file there is named
    (folder / "train_clean_male.wav").write_bytes((folder / "train_clean_male.wav").read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train_clean_male\.wav: truncated WAV file"):
        speech_denoise.prepare(embedded_values(source="local", local_path=str(folder)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fsdd_checksum_list_is_pinned(tmp_path, monkeypatch):
    rows = speech_utterances.fsdd_manifest()
    assert len(rows) == 3000 and rows[0][0] == "0_george_0.wav"
    copy = tmp_path / "fsdd.sha256"
    copy.write_bytes(speech_utterances.MANIFEST.read_bytes().replace(rows[0][1].encode(), b"0" * 64))
    monkeypatch.setattr(speech_utterances, "MANIFEST", copy)
    with pytest.raises(DataError, match="checksum list modified"):
        speech_utterances.fsdd_manifest()


def small_utterances(tmp_path):
    values = {"source": "embedded", "sample_rate": RATE, "resample": True,
              "embedded": {"n_speakers": 8, "takes": 1, "noise_seconds": 2, "seed": 0}}
    speech_utterances.prepare(values, tmp_path / "su")
    features = {"mix": {"snrs_db": [0, 10], "seed": 0}, "split": {"val_fraction": 0.2, "test_fraction": 0.2},
                "pairs": {"test_speakers": 3, "val_speakers": 1, "val_fraction": 0.2, "per_speaker": 6, "seed": 1}}
    speech_features.prepare(features, tmp_path / "su", tmp_path / "sf")
    return load_arrays(tmp_path / "sf", ["clean_wave", "noisy_wave", "offsets", "snr_db", "frame_offsets", "speaker",
                                         "pairs", "pair_set", "speaker_set", "utt_set", "split", "noisy_mag"])


def test_mixtures_hit_their_snr_and_pairs_keep_test_speakers_out(tmp_path):
    a = small_utterances(tmp_path)
    o = a["offsets"]
    for i in range(0, len(o) - 1, 7):
        clean, noisy = a["clean_wave"][o[i]:o[i + 1]], a["noisy_wave"][o[i]:o[i + 1]]
        assert audio.snr_db(clean, noisy) == pytest.approx(a["snr_db"][i], abs=0.01)
    assert a["frame_offsets"][-1] == len(a["noisy_mag"])
    assert set(np.bincount(a["split"])) and set(np.unique(a["split"])) == {0, 1, 2}
    speaker, pairs, sets = a["speaker"], a["pairs"], a["pair_set"]
    test_speakers = set(np.flatnonzero(a["speaker_set"] == 2))
    assert len(test_speakers) == 3
    same = speaker[pairs[:, 0]] == speaker[pairs[:, 1]]
    assert np.array_equal(same, pairs[:, 2] == 1)
    assert np.all(pairs[:, 0] != pairs[:, 1])
    for set_id in (0, 1, 2):
        utts = pairs[sets == set_id, :2].ravel()
        assert np.all(a["utt_set"][utts] == set_id)
        in_test = np.isin(speaker[utts], list(test_speakers))
        assert in_test.all() if set_id == 2 else not in_test.any()
        in_val = np.isin(speaker[utts], np.flatnonzero(a["speaker_set"] == 1))
        assert in_val.any() if set_id == 1 else not in_val.any()
        assert (pairs[sets == set_id, 2] == 1).sum() == (pairs[sets == set_id, 2] == 0).sum()
    meta = json.loads((tmp_path / "sf" / "meta.json").read_text())
    assert len(meta["test_speakers"]) == 3 and len(meta["val_speakers"]) == 1


@pytest.mark.realdata
def test_real_course_pair_and_fsdd_from_the_mirror(mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("DLREPRO_MIRROR", str(mirror))
    meta = speech_denoise.prepare(embedded_values(source="download"), tmp_path / "sd")
    assert meta["shapes"]["clean"] == [1258899]
    assert 5.5 < meta["noisy_snr_db"]["train"] < 7.5  # the mirror README: about 6.5 dB
    values = {"source": "download", "sample_rate": RATE, "resample": True,
              "embedded": {"n_speakers": 70, "takes": 1, "noise_seconds": 8, "seed": 0}}
    meta = speech_utterances.prepare(values, tmp_path / "su")
    assert meta["n_utterances"] == 3000 and meta["speakers"] == ["george", "jackson", "lucas", "nicolas", "theo",
                                                                 "yweweler"]
    a = load_arrays(tmp_path / "su", ["offsets", "speaker", "label"])
    assert np.array_equal(np.bincount(a["speaker"]), np.full(6, 500))
    assert meta["bandwidth_hz"] == 4000  # 8 kHz recordings: the log-mel scale stops at 4 kHz
    assert 0.14 * RATE * 0.9 < np.diff(a["offsets"]).min() and np.diff(a["offsets"]).max() < 2.4 * RATE
    # FSDD's 8 kHz files were refused without resampling
    with pytest.raises(DataError, match="sample rate 8000 Hz, expected 16000 Hz"):
        speech_utterances.prepare({**values, "resample": False}, tmp_path / "su2")
    assert not (tmp_path / "su2").exists()


def test_digit_phones_come_from_pocketsphinx_cmudict(tmp_path):
    from dlrepro.data import phones
    from dlrepro.data.sources import DataError

    assert phones.digit_phones(7) == ("S", "EH", "V", "AH", "N") and phones.digit_phones(2) == ("T", "UW")
    assert phones.pronunciations()["zero"] == (("Z", "IH", "R", "OW"), ("Z", "IY", "R", "OW"))
    names = phones.phone_set()
    assert names[0] == "SIL" and len(names) == 20 and len(set(names)) == 20
    bad = tmp_path / "short.dict"
    bad.write_text("zero Z IH R OW\none W AH N\n")
    with pytest.raises(DataError, match=r"short.dict: no pronunciation of two, three"):
        phones.pronunciations(bad)
