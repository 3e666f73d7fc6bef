"""The family's WAV reader (one rule per kind of bad input), STFT round trip and signal metrics."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from dlrepro.data import audio
from dlrepro.data.sources import DataError

RATE = 16000


def tone(n=4000, rate=RATE, freq=440.0):
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def wav_file(path, wave, rate=RATE, subtype="PCM_16"):
    sf.write(path, wave, rate, subtype=subtype)
    return path


def test_reads_16bit_mono_as_float32(tmp_path):
    wave = tone()
    got = audio.read_wav(wav_file(tmp_path / "a.wav", wave), RATE)
    assert got.dtype == np.float32 and got.shape == wave.shape
    assert np.abs(got - wave).max() <= 1 / 32768 + 1e-7


def test_stereo_becomes_the_mean_of_its_channels(tmp_path):
    left, right = tone(), tone(freq=300)
    got = audio.read_wav(wav_file(tmp_path / "s.wav", np.stack([left, right], 1)), RATE)
    assert got.ndim == 1
    assert np.abs(got - (left + right) / 2).max() < 1e-4


def test_wrong_sample_rate_is_an_error_naming_the_file(tmp_path):
    path = wav_file(tmp_path / "r8k.wav", tone(rate=8000), rate=8000)
    with pytest.raises(DataError, match=r"r8k\.wav: sample rate 8000 Hz, expected 16000 Hz"):
        audio.read_wav(path, RATE)


def test_wrong_sample_rate_resampled_when_allowed(tmp_path):
    path = wav_file(tmp_path / "r8k.wav", tone(8000, rate=8000, freq=500), rate=8000)
    got = audio.read_wav(path, RATE, resample=True)
    assert abs(len(got) - 16000) <= 2
    # still a 500 Hz tone: the spectrum peaks at 500 Hz
    spectrum = np.abs(np.fft.rfft(got))
    assert abs(np.argmax(spectrum) * RATE / len(got) - 500) < 5


def test_truncated_file_is_an_error(tmp_path):
    raw = wav_file(tmp_path / "full.wav", tone()).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(DataError, match=r"cut\.wav: truncated WAV file: the header declares 8000 bytes"):
        audio.read_wav(cut, RATE)
    head_only = tmp_path / "head.wav"
    head_only.write_bytes(raw[:30])
    with pytest.raises(DataError, match=r"head\.wav: WAV file without a data chunk"):
        audio.read_wav(head_only, RATE)


def test_empty_missing_and_foreign_files(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.wav: empty file \(0 bytes\)"):
        audio.read_wav(tmp_path / "empty.wav", RATE)
    with pytest.raises(DataError, match=r"nothere\.wav: WAV file not found"):
        audio.read_wav(tmp_path / "nothere.wav", RATE)
    (tmp_path / "text.wav").write_bytes(b"hello, not audio at all")
    with pytest.raises(DataError, match=r"text\.wav: not a WAV file"):
        audio.read_wav(tmp_path / "text.wav", RATE)


def test_no_samples_and_non_finite_samples(tmp_path):
    with pytest.raises(DataError, match=r"zero\.wav: WAV file with no samples"):
        audio.read_wav(wav_file(tmp_path / "zero.wav", np.zeros(0, np.float32)), RATE)
    bad = tone()
    bad[10] = np.nan
    with pytest.raises(DataError, match=r"nan\.wav: WAV file with non-finite samples"):
        audio.read_wav(wav_file(tmp_path / "nan.wav", bad, subtype="FLOAT"), RATE)


def test_write_wav_is_atomic_and_byte_stable(tmp_path):
    wave = tone()
    audio.write_wav(tmp_path / "out.wav", wave, RATE)
    first = (tmp_path / "out.wav").read_bytes()
    audio.write_wav(tmp_path / "out.wav", wave, RATE)
    assert (tmp_path / "out.wav").read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    assert np.abs(audio.read_wav(tmp_path / "out.wav", RATE) - wave).max() < 1e-4


def test_stft_shape_and_round_trip():
    wave = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    spec = audio.stft(wave)
    assert spec.shape == (audio.n_frames(16000), 513)
    back = audio.reconstruct(np.abs(spec), spec, len(wave))
    assert audio.snr_db(wave, back) > 60


def test_snr_and_si_sdr():
    rng = np.random.default_rng(1)
    s = rng.normal(0, 1, 10000)
    noise = rng.normal(0, 1, 10000)
    noise -= (noise @ s) / (s @ s) * s  # orthogonal to s
    noise *= np.sqrt((s @ s) / (noise @ noise)) / 10  # 20 dB below s in energy
    assert audio.snr_db(s, s + noise) == pytest.approx(20, abs=1e-6)
    # truncated to the shorter length
    assert audio.snr_db(s, np.concatenate([s + noise, np.ones(50)])) == pytest.approx(20, abs=1e-6)
    # SI-SDR ignores scaling, SNR does not
    assert audio.si_sdr_db(s, 0.5 * (s + noise)) == pytest.approx(20, abs=0.01)
    assert audio.snr_db(s, 0.5 * (s + noise)) < 7


def test_log_mel_frames_are_centred_every_10_ms_and_a_tone_lights_its_band():
    rate = 16000
    t = np.arange(rate + 37) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    mel = audio.log_mel(tone, rate)
    assert mel.shape == (1 + len(tone) // audio.mel_hop(rate), audio.MEL_BANDS) and mel.dtype == np.float32
    assert audio.mel_hop(rate) == 160 and audio.mel_hop(8000) == 80
    import librosa

    band = np.argmin(np.abs(librosa.mel_frequencies(audio.MEL_BANDS + 2, fmax=rate / 2)[1:-1] - 1000))
    middle = mel[10:-10]
    assert np.all(np.abs(middle.argmax(axis=1) - band) <= 1)
    silence = audio.log_mel(np.zeros(8000, np.float32), rate)
    assert np.allclose(silence, np.log(1e-6))


def test_log_mel_up_to_the_bandwidth_spends_no_band_on_a_resampled_recordings_empty_top():
    import librosa

    # noise recorded at 8 kHz (bandwidth 4 kHz), resampled to 16 kHz as speech_utterances does FSDD
    noise = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    wave = librosa.resample(noise, orig_sr=8000, target_sr=16000, res_type="soxr_hq")
    to_nyquist, to_bandwidth = audio.log_mel(wave, 16000).mean(0), audio.log_mel(wave, 16000, fmax=4000).mean(0)
    empty = librosa.mel_frequencies(audio.MEL_BANDS + 2, fmax=8000)[1:-1] > 4200
    assert empty.sum() >= 7 and np.all(to_nyquist[empty] < np.log(1e-6) + 3)  # near the floor: no signal there
    assert to_bandwidth.min() > to_nyquist[~empty].min() - 3  # every band up to 4 kHz carries the noise
    # and a tone lights the band of the narrower scale
    t = np.arange(16000) / 16000
    mel = audio.log_mel((0.5 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32), 16000, fmax=4000)
    band = np.argmin(np.abs(librosa.mel_frequencies(audio.MEL_BANDS + 2, fmax=4000)[1:-1] - 3000))
    assert np.all(np.abs(mel[10:-10].argmax(axis=1) - band) <= 1)
