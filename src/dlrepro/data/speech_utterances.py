"""Utterances of many speakers, and a bank of noises: the data of the utterance experiments.

download: the Free Spoken Digit Dataset (Jakobovski/free-spoken-digit-dataset at a pinned
commit, recordings/, or the DLREPRO_MIRROR folder fsdd/recordings/): 3,000 recordings of 6
speakers saying the ten digits 50 times each, 8 kHz, resampled to 16 kHz when params allow it
(`resample: true`). Every file's sha256 is pinned in fsdd.sha256 beside this module (that list
itself is pinned here by its sha256). The noise is the course pair's noise (dirty - clean).
embedded: dlrepro.data.speech_gen: n_speakers generated speakers each saying the ten words,
with phoneme alignments, and a generated noise bank (white, pink, brown, hum, babble).

Arrays: wave (all utterances concatenated), offsets (n + 1), speaker, label (digit or word),
phone_utt, phone_id, phone_start, phone_end (embedded only; empty for FSDD), noise,
noise_offsets, noise_kind. meta.json names speakers, labels and noise kinds, and bandwidth_hz: the
highest frequency the recordings carry (half the lowest original sample rate; FSDD: 4,000 Hz).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dlrepro.data import audio, speech_denoise, speech_gen
from dlrepro.data.sources import DataError, RemoteFile, fetch, sha256_hex
from dlrepro.io import save_arrays

FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_URLS = (f"https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/{FSDD_COMMIT}/recordings/",)
MANIFEST = Path(__file__).with_name("fsdd.sha256")
MANIFEST_SHA256 = "8acdc4cee6bf27791a3a23050ce6c72b1fed30ff10a6c7f61597bdc454493ca5"
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def fsdd_manifest() -> list[tuple[str, str]]:
    """(file name, sha256) of every recording, from the pinned list."""
    raw = MANIFEST.read_bytes()
    if sha256_hex(raw) != MANIFEST_SHA256:
        raise DataError(f"{MANIFEST}: checksum list modified (sha256 {sha256_hex(raw)}, expected {MANIFEST_SHA256})")
    rows = [line.split() for line in raw.decode().splitlines() if line and not line.startswith("#")]
    return [(name, sha) for sha, name in rows]


def from_fsdd(values: dict) -> tuple[dict, dict]:
    waves, speakers, digits, rates = [], [], [], []
    for name, sha in fsdd_manifest():
        payload, origin = fetch(RemoteFile("fsdd/recordings", name, FSDD_URLS, sha))
        digit, speaker, _ = NAME.match(name).groups()
        waves.append(audio.decode_wav(payload, origin, values["sample_rate"], values["resample"]))
        rates.append(audio.wav_rate(payload))
        speakers.append(speaker)
        digits.append(int(digit))
    names = sorted(set(speakers))
    course, _ = speech_denoise.from_download(values, ("clean", "dirty"))
    noise = course["dirty"] - course["clean"]
    arrays = {
        "wave": np.concatenate(waves),
        "offsets": np.cumsum([0] + [len(w) for w in waves]).astype(np.int64),
        "speaker": np.array([names.index(s) for s in speakers], dtype=np.int64),
        "label": np.array(digits, dtype=np.int64),
        **{k: np.zeros(0, np.int64) for k in ("phone_utt", "phone_id", "phone_start", "phone_end")},
        "noise": noise.astype(np.float32), "noise_offsets": np.array([0, len(noise)], np.int64),
        "noise_kind": np.zeros(1, np.int64),
    }
    info = {"speakers": names, "labels": [str(d) for d in range(10)], "noise_kinds": ["course"], "phonemes": [],
            "bandwidth_hz": min(min(rates), values["sample_rate"]) / 2,
            "files": {"recordings": f"fsdd/recordings: {len(waves)} files, sha256 pinned in {MANIFEST.name}",
                      "noise": "speech-denoise train_dirty_male.wav - train_clean_male.wav"}}
    return arrays, info


def from_embedded(values: dict) -> tuple[dict, dict]:
    e = values["embedded"]
    rng = np.random.default_rng(e["seed"])
    arrays = speech_gen.utterances(speech_gen.draw_speakers(e["n_speakers"], rng), e["takes"], rng)
    arrays.update(speech_gen.noise_bank(e["noise_seconds"], rng))
    info = {"speakers": [f"speaker{i:02d}" for i in range(e["n_speakers"])],
            "labels": ["-".join(w) for w in speech_gen.WORDS], "noise_kinds": list(speech_gen.NOISE_KINDS),
            "phonemes": list(speech_gen.PHONE_NAMES), "bandwidth_hz": speech_gen.RATE / 2,
            "files": {"origin": "generated: dlrepro.data.speech_gen", "seed": e["seed"]}}
    return arrays, info


def prepare(values: dict, out: str | Path) -> dict:
    arrays, info = (from_embedded if values["source"] == "embedded" else from_fsdd)(values)
    meta = {"dataset": "speech_utterances", "source": values["source"], "sample_rate": values["sample_rate"],
            **info, "n_utterances": int(len(arrays["speaker"])),
            "seconds": float(len(arrays["wave"]) / values["sample_rate"]),
            "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    save_arrays(out, arrays, meta)
    return meta
