"""Preprocessing of the utterances: noisy mixtures, STFT features, ideal binary masks, pair lists.

The utterances' clean samples, offsets, speakers and labels are copied along, so experiments
read this one folder. Every utterance gets one noise segment (a random kind and offset in the noise bank) scaled to
one of the params' SNRs, all drawn from one seeded stream. Features per frame (n_fft 1024, hop
512, Hann): noisy and clean magnitudes and the ideal binary mask 1(|S| > |N|), frames of all
utterances concatenated (frame_offsets). The denoising split (`split`: 0 train, 1 validation,
2 test) is over utterances. The Siamese split is over speakers: test speakers (set 2) and
validation speakers (set 1) are never in a training pair; the training speakers' utterances are
split again into training (set 0) and held-out (set 1) utterances, so validation pairs mix unseen
speakers with unseen utterances of training speakers. For each speaker of a set, L positive
pairs (two of its utterances) and L negative pairs (one of its utterances and one of another
speaker of the same set).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrepro.data import audio
from dlrepro.io import load_arrays, read_json, save_arrays

UTTERANCE_ARRAYS = ["wave", "offsets", "speaker", "label", "noise", "noise_offsets"]


def mix(clean: np.ndarray, noise_bank: np.ndarray, noise_offsets: np.ndarray, snr_db: float, kind: int,
        rng: np.random.Generator) -> np.ndarray:
    """clean + a segment of noise kind `kind` (from a random offset, wrapping), at snr_db."""
    bank = noise_bank[noise_offsets[kind]:noise_offsets[kind + 1]].astype(np.float64)
    start = rng.integers(0, len(bank))
    segment = np.resize(np.roll(bank, -start), len(clean))
    power = np.sum(clean.astype(np.float64) ** 2)
    segment *= np.sqrt(power / max(np.sum(segment ** 2), 1e-20) / 10 ** (snr_db / 10))
    return segment.astype(np.float32)


def denoise_split(n: int, val_fraction: float, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    order = rng.permutation(n)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    split = np.zeros(n, np.int64)
    split[order[:n_val]] = 1
    split[order[n_val:n_val + n_test]] = 2
    return split


def pair_lists(speaker: np.ndarray, n_test_speakers: int, n_val_speakers: int, val_fraction: float,
               per_speaker: int, rng: np.random.Generator) -> dict:
    """Speaker split and fixed pair lists (see the module docstring)."""
    speakers = np.unique(speaker)
    if n_test_speakers < 2 or n_test_speakers + n_val_speakers > len(speakers) - 2:
        raise ValueError(f"test_speakers {n_test_speakers} + val_speakers {n_val_speakers}: need at least two test "
                         f"and two training speakers of {len(speakers)}")
    order = rng.permutation(speakers)
    test, val = order[:n_test_speakers], order[n_test_speakers:n_test_speakers + n_val_speakers]
    speaker_set = np.where(np.isin(speakers, test), 2, np.where(np.isin(speakers, val), 1, 0)).astype(np.int64)
    utt_set = speaker_set[np.searchsorted(speakers, speaker)]
    for s in speakers[speaker_set == 0]:
        utts = rng.permutation(np.flatnonzero(speaker == s))
        n_val = max(2, int(round(len(utts) * val_fraction)))
        utt_set[utts[:n_val]], utt_set[utts[n_val:]] = 1, 0
    pairs, pair_set = [], []
    for set_id in (0, 1, 2):
        members = {s: np.flatnonzero((speaker == s) & (utt_set == set_id)) for s in speakers
                   if ((speaker == s) & (utt_set == set_id)).sum() >= 2}
        names = list(members)
        for s in names:
            utts = members[s]
            for _ in range(per_speaker):
                a, b = rng.choice(utts, 2, replace=False)
                pairs.append((a, b, 1))
                other = names[(names.index(s) + rng.integers(1, len(names))) % len(names)]
                pairs.append((rng.choice(utts), rng.choice(members[other]), 0))
            pair_set += [set_id] * 2 * per_speaker
    return {"pairs": np.asarray(pairs, np.int64), "pair_set": np.asarray(pair_set, np.int64),
            "speaker_set": speaker_set, "utt_set": utt_set}


def prepare(values: dict, data_dir: str | Path, out: str | Path) -> dict:
    u = load_arrays(data_dir, UTTERANCE_ARRAYS)
    data_meta = read_json(Path(data_dir) / "meta.json")
    rng = np.random.default_rng(values["mix"]["seed"])
    offsets = u["offsets"]
    n = len(offsets) - 1
    n_kinds = len(u["noise_offsets"]) - 1
    snrs = rng.choice(np.asarray(values["mix"]["snrs_db"], dtype=np.float64), n)
    kinds = rng.integers(0, n_kinds, n)
    noisy_wave = np.empty_like(u["wave"])
    feats = {k: [] for k in ("noisy_mag", "clean_mag", "ibm")}
    frame_offsets = [0]
    for i in range(n):
        clean = u["wave"][offsets[i]:offsets[i + 1]]
        noise = mix(clean, u["noise"], u["noise_offsets"], snrs[i], kinds[i], rng)
        noisy_wave[offsets[i]:offsets[i + 1]] = clean + noise
        noisy_spec, clean_spec = audio.stft(clean + noise), audio.stft(clean)
        feats["noisy_mag"].append(np.abs(noisy_spec))
        feats["clean_mag"].append(np.abs(clean_spec))
        feats["ibm"].append(np.abs(clean_spec) > np.abs(audio.stft(noise)))
        frame_offsets.append(frame_offsets[-1] + len(noisy_spec))
    s, p = values["split"], values["pairs"]
    arrays = {
        "clean_wave": u["wave"],
        "offsets": offsets,
        "speaker": u["speaker"],
        "label": u["label"],
        "noisy_wave": noisy_wave,
        "noisy_mag": np.concatenate(feats["noisy_mag"]).astype(np.float32),
        "clean_mag": np.concatenate(feats["clean_mag"]).astype(np.float32),
        "ibm": np.concatenate(feats["ibm"]).astype(np.uint8),
        "frame_offsets": np.asarray(frame_offsets, np.int64),
        "snr_db": snrs.astype(np.float32),
        "noise_kind": kinds.astype(np.int64),
        "split": denoise_split(n, s["val_fraction"], s["test_fraction"], rng),
        **pair_lists(u["speaker"], p["test_speakers"], p["val_speakers"], p["val_fraction"], p["per_speaker"],
                     np.random.default_rng(p["seed"])),
    }
    meta = {"dataset": "speech_features", "source": data_meta["source"], "sample_rate": data_meta["sample_rate"],
            "speakers": data_meta["speakers"], "noise_kinds": data_meta["noise_kinds"],
            "test_speakers": [data_meta["speakers"][i] for i in np.flatnonzero(arrays["speaker_set"] == 2)],
            "val_speakers": [data_meta["speakers"][i] for i in np.flatnonzero(arrays["speaker_set"] == 1)],
            "n_utterances": n, "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    save_arrays(out, arrays, meta)
    return meta
