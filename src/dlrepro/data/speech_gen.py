"""Procedural multi-speaker speech at 16 kHz: the embedded stand-in for the speech datasets.

Source-filter synthesis. Each speaker has a pitch (male or female range), a formant scale
(vocal tract length), a speaking rate, breathiness, spectral tilt and jitter. Phonemes are
voiced (vowels, nasals, voiced fricatives: a glottal pulse train through formant resonators)
or unvoiced (fricatives and plosive bursts: filtered noise; plosives start with a closure).
Every utterance says one of ten fixed "words" (phoneme strings), like the ten digits of FSDD,
so every speaker says the same vocabulary; the phoneme labels and their sample alignments are
returned with the audio, for experiments that need them.

The noise bank holds white, pink (1/f), brown (1/f^2), mains hum (50 Hz and harmonics) and
babble (several utterances of other, unlisted speakers summed).

Only numpy and scipy.signal.lfilter with one seeded Generator: the same seed gives the same
samples on every machine, in a few seconds for a thousand utterances.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

RATE = 16000
# name: (kind, formants Hz (F1, F2, F3) or noise band Hz (low, high), base duration s)
PHONEMES = {
    "sil": ("silence", (), 0.10),
    "a": ("vowel", (730, 1090, 2440), 0.12), "e": ("vowel", (530, 1840, 2480), 0.11),
    "i": ("vowel", (270, 2290, 3010), 0.10), "o": ("vowel", (570, 840, 2410), 0.12),
    "u": ("vowel", (300, 870, 2240), 0.11), "ae": ("vowel", (660, 1720, 2410), 0.12),
    "er": ("vowel", (490, 1350, 1690), 0.12),
    "m": ("nasal", (250, 1100, 2500), 0.07), "n": ("nasal", (250, 1700, 2600), 0.07),
    "l": ("nasal", (360, 1300, 2700), 0.06), "r": ("nasal", (420, 1200, 1600), 0.06),
    "z": ("voiced_fricative", (3500, 7000), 0.08), "v": ("voiced_fricative", (1500, 6000), 0.07),
    "s": ("fricative", (4000, 7800), 0.10), "sh": ("fricative", (2000, 5000), 0.10),
    "f": ("fricative", (1000, 7800), 0.09), "h": ("fricative", (400, 5000), 0.06),
    "p": ("plosive", (300, 3000), 0.07), "t": ("plosive", (2500, 7000), 0.07),
    "k": ("plosive", (1200, 3500), 0.08),
}
PHONE_NAMES = tuple(PHONEMES)
VOICED = tuple(n for n, (kind, _, _) in PHONEMES.items() if kind in ("vowel", "nasal", "voiced_fricative"))
# Ten words (phoneme strings), the vocabulary every speaker says: the digits of this world.
WORDS = (
    ("z", "i", "r", "o"), ("v", "a", "n"), ("t", "u"), ("s", "r", "i"), ("f", "o", "r"),
    ("f", "ae", "v"), ("s", "i", "k", "s"), ("s", "e", "v", "e", "n"), ("e", "i", "t"), ("n", "a", "i", "n"),
)
NOISE_KINDS = ("white", "pink", "brown", "hum", "babble")


def draw_speakers(n: int, rng: np.random.Generator) -> list[dict]:
    """n speakers, half male and half female (alternating), each with its own voice."""
    speakers = []
    for i in range(n):
        female = i % 2 == 1
        speakers.append({
            "female": female,
            "f0": float(rng.uniform(165, 250) if female else rng.uniform(85, 150)),
            "formant_scale": float(rng.uniform(1.08, 1.22) if female else rng.uniform(0.88, 1.04)),
            "rate": float(rng.uniform(0.75, 1.3)),
            "breathiness": float(rng.uniform(0.0, 0.25)),
            "tilt": float(rng.uniform(0.85, 0.97)),   # one-pole low-pass of the glottal source
            "jitter": float(rng.uniform(0.002, 0.02)),
            "bandwidth": float(rng.uniform(0.7, 1.4)),  # formant bandwidth factor
            "loudness": float(rng.uniform(0.5, 1.0)),
        })
    return speakers


def _resonator(x: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    """Two-pole resonance at freq Hz with the given -3 dB bandwidth, unit gain at the peak."""
    freq = min(freq, RATE / 2 * 0.95)
    r = np.exp(-np.pi * bandwidth / RATE)
    a = [1.0, -2 * r * np.cos(2 * np.pi * freq / RATE), r * r]
    return lfilter([1 - r], a, x)


def _band_noise(n: int, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec *= (f >= low) & (f <= high)
    out = np.fft.irfft(spec, n)
    return out / (np.std(out) + 1e-9)


def _glottal(n: int, f0: np.ndarray, speaker: dict, rng: np.random.Generator) -> np.ndarray:
    """Pulse train at the instantaneous pitch f0 (per sample), low-passed by the speaker's tilt."""
    phase = np.cumsum(f0 / RATE)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    source = lfilter([1.0], [1.0, -speaker["tilt"]], pulses - pulses.mean())
    source /= np.std(source) + 1e-9
    return source + speaker["breathiness"] * rng.normal(0, 1, n)


def say(phones: tuple[str, ...], speaker: dict, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """One utterance: samples and the alignment [(phoneme index, start, end), ...] in samples."""
    seq = ("sil", *phones, "sil")
    durations = [PHONEMES[p][2] / speaker["rate"] * rng.uniform(0.8, 1.25) for p in seq]
    lengths = [max(int(d * RATE), 64) for d in durations]
    n = sum(lengths)
    t = np.arange(n) / RATE
    # pitch: declination over the utterance, a slow wobble and per-period jitter
    f0 = speaker["f0"] * (1.1 - 0.2 * t / t[-1]) * (1 + 0.04 * np.sin(2 * np.pi * rng.uniform(2, 5) * t
                                                                       + rng.uniform(0, 6)))
    f0 *= 1 + speaker["jitter"] * lfilter([0.05], [1, -0.95], rng.normal(0, 1, n))
    source = _glottal(n, f0, speaker, rng)
    out = np.zeros(n)
    align, start = [], 0
    for p, length in zip(seq, lengths):
        kind, spec, _ = PHONEMES[p]
        seg = slice(start, start + length)
        ramp = np.minimum(1, np.minimum(np.arange(length), np.arange(length)[::-1]) / (0.012 * RATE))
        if kind in ("vowel", "nasal", "voiced_fricative"):
            formants = spec if kind != "voiced_fricative" else (300, 1500, 2500)
            gains = (1.0, 0.6, 0.35) if kind == "vowel" else (1.0, 0.2, 0.1)
            voiced = sum(g * _resonator(source[seg], f * speaker["formant_scale"], (60 + 0.05 * f) * speaker["bandwidth"])
                         for f, g in zip(formants, gains))
            level = 1.0 if kind == "vowel" else 0.45
            segment = level * voiced / (np.std(voiced) + 1e-9)
            if kind == "voiced_fricative":
                segment = 0.4 * segment + 0.35 * _band_noise(length, *spec, rng)
        elif kind in ("fricative", "plosive"):
            low, high = spec
            segment = (0.3 if p != "h" else 0.12) * _band_noise(length, low * speaker["formant_scale"],
                                                                min(high * speaker["formant_scale"], 7900), rng)
            if kind == "plosive":  # closure, then a decaying burst
                closure = int(0.6 * length)
                segment[:closure] = 0
                segment[closure:] *= 2.5 * np.exp(-np.arange(length - closure) / (0.008 * RATE))
        else:
            segment = np.zeros(length)
        out[seg] = segment * ramp
        align.append((PHONE_NAMES.index(p), start, start + length))
        start += length
    out *= speaker["loudness"] * 0.1 / (np.sqrt(np.mean(out ** 2)) + 1e-9)
    return out.astype(np.float32), align


def utterances(speakers: list[dict], takes: int, rng: np.random.Generator) -> dict:
    """Every speaker says every word `takes` times. Returns concatenated samples and labels:
    wave, offsets (n + 1), speaker, label (the word), and the phoneme alignment rows
    phone_utt, phone_id, phone_start, phone_end (samples within the utterance)."""
    waves, speaker_ids, labels, phones = [], [], [], []
    for s, speaker in enumerate(speakers):
        for _ in range(takes):
            for w, word in enumerate(WORDS):
                wave, align = say(word, speaker, rng)
                phones += [(len(waves), *row) for row in align]
                waves.append(wave)
                speaker_ids.append(s)
                labels.append(w)
    phones = np.asarray(phones, dtype=np.int64)
    return {"wave": np.concatenate(waves), "offsets": np.cumsum([0] + [len(w) for w in waves]).astype(np.int64),
            "speaker": np.asarray(speaker_ids, np.int64), "label": np.asarray(labels, np.int64),
            "phone_utt": phones[:, 0], "phone_id": phones[:, 1], "phone_start": phones[:, 2],
            "phone_end": phones[:, 3]}


def coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum 1/f^exponent (0 white, 1 pink, 2 brown), unit variance."""
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec *= 1 / np.maximum(f, 20.0) ** (exponent / 2)
    out = np.fft.irfft(spec, n)
    return (out - out.mean()) / (np.std(out) + 1e-9)


def noise(kind: str, n: int, rng: np.random.Generator, babble_speakers: list[dict] | None = None) -> np.ndarray:
    """n samples of one noise type, unit variance."""
    if kind in ("white", "pink", "brown"):
        return coloured(n, NOISE_KINDS.index(kind), rng)
    if kind == "hum":
        t = np.arange(n) / RATE
        base = rng.choice([50.0, 60.0])
        out = sum(rng.uniform(0.2, 1) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6)) for k in range(1, 8))
        out = out + 0.05 * rng.normal(0, 1, n)
        return out / np.std(out)
    if kind == "babble":
        out = np.zeros(n)
        for _ in range(6):
            stream = []
            while sum(map(len, stream)) < n:
                speaker = babble_speakers[rng.integers(len(babble_speakers))]
                stream.append(say(WORDS[rng.integers(len(WORDS))], speaker, rng)[0])
            joined = np.concatenate(stream)
            out += np.roll(joined, -rng.integers(0, len(stream[0])))[:n]
        return out / (np.std(out) + 1e-9)
    raise ValueError(f"unknown noise kind {kind!r} ({', '.join(NOISE_KINDS)})")


def noise_bank(seconds_each: float, rng: np.random.Generator, n_babble_speakers: int = 8) -> dict:
    """Every noise kind, seconds_each long: noise (concatenated), noise_offsets, noise_kind."""
    babblers = draw_speakers(n_babble_speakers, rng)
    n = int(seconds_each * RATE)
    parts = [noise(kind, n, rng, babblers).astype(np.float32) for kind in NOISE_KINDS]
    return {"noise": np.concatenate(parts), "noise_offsets": np.arange(len(parts) + 1, dtype=np.int64) * n,
            "noise_kind": np.arange(len(parts), dtype=np.int64)}


def course_pair(seconds: float, test_seconds: tuple[float, ...], snr_db: float,
                rng: np.random.Generator) -> dict:
    """A stand-in for the course pair: one male speaker talking for `seconds` (words with pauses),
    the same plus a stationary noise (pink, hum and babble mixed) at snr_db; and noisy test clips."""
    speaker = draw_speakers(1, rng)[0]
    babblers = draw_speakers(6, rng)

    def talk(n: int) -> np.ndarray:
        parts = []
        while sum(map(len, parts)) < n:
            parts.append(say(WORDS[rng.integers(len(WORDS))], speaker, rng)[0])
            parts.append(np.zeros(int(rng.uniform(0.02, 0.25) * RATE), np.float32))
        return np.concatenate(parts)[:n]

    def noisy(clean: np.ndarray) -> np.ndarray:
        n = len(clean)
        mix = 0.6 * coloured(n, 1, rng) + 0.3 * noise("hum", n, rng) + 0.5 * noise("babble", n, rng, babblers)
        mix *= np.sqrt(np.sum(clean.astype(np.float64) ** 2) / np.sum(mix ** 2) / 10 ** (snr_db / 10))
        return (clean + mix).astype(np.float32)

    clean = talk(int(seconds * RATE))
    out = {"clean": clean, "dirty": noisy(clean)}
    for i, s in enumerate(test_seconds, start=1):
        out[f"test_x_{i:02d}"] = noisy(talk(int(s * RATE)))
    return out
