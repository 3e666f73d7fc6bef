"""Audio for the speech family: one WAV reader, STFT features and the signal metrics.

Reading rules (every dataset of the family goes through `decode_wav`/`read_wav`):
- a missing, empty or unparsable file, a file whose header promises more audio than it holds
  (truncated), a file with no samples, or one with non-finite samples is a DataError that names
  the file and says what was expected and what was found; nothing is written from it;
- more than one channel is converted to mono by the mean of the channels (and logged);
- a sample rate other than the expected one is an error, unless the caller allows resampling
  (a `resample: true` params key): then librosa resamples it (soxr_hq) to the expected rate;
- samples come back as float32 in [-1, 1] (16-bit PCM divided by 32768).

Features follow REFERENCE.md: librosa.stft(n_fft=1024, hop_length=512, Hann, center=True), so
513 bins, stored frames x bins. SNR = 10 log10(sum s^2 / sum (s - s_hat)^2) on the time signal,
truncated to the shorter length; SI-SDR projects the estimate on the reference first.
"""

from __future__ import annotations

import io
import logging
import struct
from pathlib import Path

import numpy as np

from dlrepro.data.sources import DataError
from dlrepro.io import atomic_path

log = logging.getLogger(__name__)
N_FFT = 1024
HOP = 512
N_BINS = N_FFT // 2 + 1


def _riff_data_size(raw: bytes, origin: str) -> None:
    """Check the RIFF/WAVE layout: the data chunk must hold every byte its header declares."""
    if len(raw) == 0:
        raise DataError(f"{origin}: empty file (0 bytes); expected a WAV file")
    if len(raw) < 12 or raw[:4] not in (b"RIFF", b"RIFX") or raw[8:12] != b"WAVE":
        raise DataError(f"{origin}: not a WAV file (found {raw[:12]!r} where a RIFF/WAVE header belongs)")
    fmt = "<I" if raw[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(raw):
        chunk, size = raw[pos:pos + 4], struct.unpack(fmt, raw[pos + 4:pos + 8])[0]
        if chunk == b"data":
            available = len(raw) - pos - 8
            if size > available and size != 0xFFFFFFFF:  # 0xFFFFFFFF: unknown size (streamed)
                raise DataError(f"{origin}: truncated WAV file: the header declares {size} bytes of audio, "
                                f"the file holds {available}")
            return
        pos += 8 + size + (size & 1)
    raise DataError(f"{origin}: WAV file without a data chunk (truncated header?)")


def decode_wav(raw: bytes, origin: str, sample_rate: int, resample: bool = False) -> np.ndarray:
    """Mono float32 samples at sample_rate from the bytes of a WAV file (rules: module docstring)."""
    import soundfile as sf

    _riff_data_size(raw, origin)
    try:
        samples, found_rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise DataError(f"{origin}: unreadable WAV file ({exc})") from None
    if samples.shape[0] == 0:
        raise DataError(f"{origin}: WAV file with no samples; expected audio")
    if not np.isfinite(samples).all():
        raise DataError(f"{origin}: WAV file with non-finite samples (NaN or infinity)")
    if samples.shape[1] > 1:
        log.info("%s: %d channels, converted to mono (mean of the channels)", origin, samples.shape[1])
    wave = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    if found_rate != sample_rate:
        if not resample:
            raise DataError(f"{origin}: sample rate {found_rate} Hz, expected {sample_rate} Hz "
                            "(set resample: true in params.yaml to convert it)")
        import librosa

        wave = librosa.resample(wave, orig_sr=found_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(wave, dtype=np.float32)


def wav_rate(raw: bytes) -> int:
    """The sample rate a WAV file's header declares (of a file decode_wav has read)."""
    import soundfile as sf

    return int(sf.info(io.BytesIO(raw)).samplerate)


def read_wav(path: str | Path, sample_rate: int, resample: bool = False) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: WAV file not found")
    return decode_wav(path.read_bytes(), str(path), sample_rate, resample)


def encode_wav(wave: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes (clipped to [-1, 1]); the same samples always give the same bytes."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(np.asarray(wave, dtype=np.float32), -1, 1), sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def write_wav(path: str | Path, wave: np.ndarray, sample_rate: int) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(encode_wav(wave, sample_rate))


def stft(wave: np.ndarray) -> np.ndarray:
    """Complex STFT, frames x 513 bins (n_fft 1024, hop 512, Hann, centred)."""
    import librosa

    return librosa.stft(np.asarray(wave, dtype=np.float32), n_fft=N_FFT, hop_length=HOP, window="hann",
                        center=True).T


def istft(spec: np.ndarray, length: int) -> np.ndarray:
    """The time signal of a frames x 513 complex STFT, `length` samples long."""
    import librosa

    return librosa.istft(np.asarray(spec).T, n_fft=N_FFT, hop_length=HOP, window="hann", center=True,
                         length=length).astype(np.float32)


# Log-mel frames of the phoneme experiments (11-785's): 40 mel bands, 25 ms window, 10 ms hop.
MEL_BANDS = 40
MEL_WINDOW_S = 0.025
MEL_HOP_S = 0.010


def log_mel(wave: np.ndarray, sample_rate: int, fmax: float | None = None) -> np.ndarray:
    """frames x 40 log-mel energies (float32): Hann window of 25 ms, hop 10 ms, centred, so frame t
    is centred on sample t * hop and there are 1 + len // hop frames; log(mel power + 1e-6).
    fmax: the top of the mel scale, the recording's own bandwidth (None: sample_rate / 2). Bands
    above a resampled recording's bandwidth hold only the resampler's leakage: on FSDD (8 kHz made
    16 kHz) 8 of 40 bands sat at the floor, which normalisation turns into noise."""
    import librosa

    window, hop = round(MEL_WINDOW_S * sample_rate), round(MEL_HOP_S * sample_rate)
    n_fft = 1 << (window - 1).bit_length()
    mel = librosa.feature.melspectrogram(y=np.asarray(wave, dtype=np.float32), sr=sample_rate, n_fft=n_fft,
                                         hop_length=hop, win_length=window, window="hann", center=True,
                                         n_mels=MEL_BANDS, power=2.0, fmax=fmax)
    return np.log(mel + 1e-6).T.astype(np.float32)


def mel_hop(sample_rate: int) -> int:
    """Samples between log-mel frames."""
    return round(MEL_HOP_S * sample_rate)


def n_frames(n_samples: int) -> int:
    return 1 + n_samples // HOP


def reconstruct(magnitude: np.ndarray, noisy_spec: np.ndarray, length: int) -> np.ndarray:
    """Waveform from a predicted magnitude and the noisy phase (REFERENCE.md's convention)."""
    return istft(magnitude * np.exp(1j * np.angle(noisy_spec)), length)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(sum s^2 / sum (s - s_hat)^2), both truncated to the shorter length."""
    n = min(len(reference), len(estimate))
    s, e = np.asarray(reference[:n], np.float64), np.asarray(estimate[:n], np.float64)
    return float(10 * np.log10(np.sum(s ** 2) / max(np.sum((s - e) ** 2), 1e-20)))


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR: the SNR of the estimate against its best scaling of the reference
    (both mean-removed, truncated to the shorter length)."""
    n = min(len(reference), len(estimate))
    s, e = np.asarray(reference[:n], np.float64), np.asarray(estimate[:n], np.float64)
    s, e = s - s.mean(), e - e.mean()
    # np.sum, not a BLAS dot: its result must not depend on how many threads BLAS uses
    target = np.sum(e * s) / max(np.sum(s * s), 1e-20) * s
    return float(10 * np.log10(max(np.sum(target ** 2), 1e-20) / max(np.sum((e - target) ** 2), 1e-20)))
