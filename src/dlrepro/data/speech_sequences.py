"""Sequences of spoken digits (words) by one speaker, and their phones: the CTC experiment's data.

Each sequence is 2 to 5 recordings of one speaker from speech_utterances (FSDD's digits, or the
generated speakers' ten words), drawn without replacement, joined by silence gaps (zeros) whose
lengths are drawn uniformly in [gap_s.min, gap_s.max] seconds, one per join. The target is the
recordings' phones concatenated, with no silence phone: for FSDD each digit's usual CMUdict
pronunciation (data/phones.digit_phones), for the generated speakers the word's phones
(speech_gen.WORDS). Features are the sequence's log-mel frames (data/audio.log_mel, 40 bands up
to the recordings' bandwidth, 10 ms hop), computed on the joined waveform.

The split is by speaker: `test_speakers` speakers (drawn with split.seed) are held out and make
the test sequences only. Validation is either unseen recordings of the training speakers (every
other speaker's recordings split once, val_fraction per speaker, so no recording is in both a
training and a validation sequence) or, with `val_speakers` > 0, that many further speakers held
out whole, so that validation measures what the test does (an unseen voice) and can choose
settings that the test must not. No test speaker is ever heard in training or validation.

Arrays (sequences concatenated, each with its offsets): mel (frames × 40) / frame_offsets;
phones (ids into meta's `phones`) / phone_offsets; words (the recordings' labels), source (their
utterance index in speech_utterances) and gap_samples (the gap before each, 0 for the first) /
word_offsets; speaker and split (0 train, 1 validation, 2 test) per sequence. The waveforms of
the first `keep_audio` test sequences (for the report's players) are wave / wave_offsets; any other
sequence is recomputed from source and gap_samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrepro.data import audio, phones, speech_gen
from dlrepro.io import load_arrays, read_json, save_arrays

UTTERANCE_ARRAYS = ["wave", "offsets", "speaker", "label"]
SPLITS = ("train", "val", "test")


def word_phones(source: str) -> tuple[list[str], list[tuple[int, ...]]]:
    """The phone set (no silence) and each word's phone ids, for FSDD (download/local) or the generated words."""
    if source == "embedded":
        words = speech_gen.WORDS
    else:
        words = [phones.digit_phones(d) for d in range(10)]
    names = sorted({p for w in words for p in w})
    return names, [tuple(names.index(p) for p in w) for w in words]


def speaker_split(speaker: np.ndarray, n_test: int, val_fraction: float, rng: np.random.Generator,
                  n_val_speakers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(speaker set: 0 training, 1 validation, 2 test, per speaker id; recording set: 0 train, 1 val,
    2 test, per recording). With n_val_speakers 0, validation takes val_fraction of each training
    speaker's recordings; otherwise it is those speakers' recordings, all of them."""
    speakers = np.unique(speaker)
    if n_test < 1 or n_test + n_val_speakers > len(speakers) - 1:
        raise ValueError(f"speech_sequences.split: test_speakers {n_test} and val_speakers {n_val_speakers} need "
                         f"at least one test and one training speaker of {len(speakers)}")
    order = rng.permutation(speakers)
    speaker_set = np.zeros(speakers.max() + 1, np.int64)
    speaker_set[order[:n_test]] = 2
    speaker_set[order[n_test:n_test + n_val_speakers]] = 1
    recording_set = speaker_set[speaker].copy()
    if n_val_speakers == 0:
        for s in np.setdiff1d(speakers, order[:n_test]):
            own = rng.permutation(np.flatnonzero(speaker == s))
            recording_set[own[:max(1, int(round(len(own) * val_fraction)))]] = 1
    return speaker_set, recording_set


def draw(speaker: np.ndarray, recording_set: np.ndarray, set_id: int, count: int, words: tuple[int, int],
         rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """count sequences of set set_id: (speaker, recording indices), a speaker drawn uniformly among the
    set's speakers, then 2-5 (words) of its recordings of that set without replacement."""
    pools = {int(s): np.flatnonzero((speaker == s) & (recording_set == set_id))
             for s in np.unique(speaker[recording_set == set_id])}
    smallest = min(len(p) for p in pools.values())
    if smallest < words[1]:
        raise ValueError(f"speech_sequences: a speaker has only {smallest} recordings in the {SPLITS[set_id]} set, "
                         f"fewer than words.max {words[1]}")
    names = np.array(sorted(pools))
    out = []
    for _ in range(count):
        s = int(rng.choice(names))
        n = int(rng.integers(words[0], words[1] + 1))
        out.append((s, rng.choice(pools[s], n, replace=False)))
    return out


def prepare(values: dict, data_dir: str | Path, out: str | Path) -> dict:
    u = load_arrays(data_dir, UTTERANCE_ARRAYS)
    data_meta = read_json(Path(data_dir) / "meta.json")
    rate = int(data_meta["sample_rate"])
    phone_names, word_ids = word_phones(data_meta["source"])
    s, g, w = values["split"], values["gap_s"], values["words"]
    speaker_set, recording_set = speaker_split(u["speaker"], s["test_speakers"], s["val_fraction"],
                                               np.random.default_rng(s["seed"]), s["val_speakers"])
    rng = np.random.default_rng(values["seed"])
    drawn = [(set_id, spk, recs) for set_id, name in enumerate(SPLITS)
             for spk, recs in draw(u["speaker"], recording_set, set_id, values["sequences"][name],
                                   (w["min"], w["max"]), rng)]
    o = u["offsets"]
    mels, targets, gaps, kept = [], [], [], []
    for set_id, _, recs in drawn:
        gap = np.concatenate([[0], rng.integers(round(g["min"] * rate), round(g["max"] * rate) + 1, len(recs) - 1)])
        parts = []
        for recording, silence in zip(recs, gap):
            parts += [np.zeros(silence, np.float32), u["wave"][o[recording]:o[recording + 1]]]
        wave = np.concatenate(parts)
        mels.append(audio.log_mel(wave, rate, data_meta["bandwidth_hz"]))
        targets.append(np.concatenate([word_ids[label] for label in u["label"][recs]]))
        gaps.append(gap)
        if set_id == 2 and len(kept) < values["keep_audio"]:
            kept.append(wave)

    def offsets(pieces) -> np.ndarray:
        return np.cumsum([0] + [len(p) for p in pieces]).astype(np.int64)

    arrays = {
        "mel": np.concatenate(mels), "frame_offsets": offsets(mels),
        "phones": np.concatenate(targets).astype(np.int64), "phone_offsets": offsets(targets),
        "words": np.concatenate([u["label"][r] for _, _, r in drawn]).astype(np.int64),
        "source": np.concatenate([r for _, _, r in drawn]).astype(np.int64),
        "gap_samples": np.concatenate(gaps).astype(np.int64), "word_offsets": offsets(gaps),
        "speaker": np.array([spk for _, spk, _ in drawn], np.int64),
        "split": np.array([set_id for set_id, _, _ in drawn], np.int64),
        "wave": np.concatenate(kept) if kept else np.zeros(0, np.float32), "wave_offsets": offsets(kept),
    }
    names = data_meta["speakers"]
    meta = {"dataset": "speech_sequences", "source": data_meta["source"], "sample_rate": rate,
            "hop_samples": audio.mel_hop(rate), "mel_fmax_hz": data_meta["bandwidth_hz"], "phones": phone_names,
            "word_labels": data_meta["labels"],
            "word_phones": [[phone_names[i] for i in ids] for ids in word_ids], "speakers": names,
            "test_speakers": [names[i] for i in np.flatnonzero(speaker_set == 2)],
            "train_speakers": [names[i] for i in np.unique(u["speaker"]) if speaker_set[i] == 0],
            "val_speakers": [names[i] for i in np.flatnonzero(speaker_set == 1)],
            "recordings": {name: int((recording_set == k).sum()) for k, name in enumerate(SPLITS)},
            "sequences": {name: int((arrays["split"] == k).sum()) for k, name in enumerate(SPLITS)},
            "gap_s": [g["min"], g["max"]], "words_per_sequence": [w["min"], w["max"]],
            "seconds": {name: float(sum(len(m) for m, (k, _, _) in zip(mels, drawn) if k == i) * audio.MEL_HOP_S)
                        for i, name in enumerate(SPLITS)},
            "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    save_arrays(out, arrays, meta)
    return meta
