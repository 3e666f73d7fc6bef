"""Phone labels for every 10 ms frame of the utterances: the data of the frame-phoneme family.

FSDD (speech_utterances from download): each recording is force-aligned by pocketsphinx (its
en-US acoustic model and CMUdict, dlrepro.data.phones) to its digit's word. The aligner's
grammar allows every dictionary pronunciation of the word (both of "zero") and optional silence
at either end. Two passes, as pocketsphinx 5 documents for sub-word alignment
(`Decoder.set_align_text`, decode, `Decoder.set_alignment`, decode again, `get_alignment`).
A recording fails when the aligner finds no path through it, cannot run its second pass, or
returns phones that are not one of the word's pronunciations; failures are listed in meta.json
(utterance index, file, reason) and left out, never guessed.
embedded: the generated speakers' own alignments (speech_gen.PHONE_NAMES), no aligner.

Segments are in samples of the 16 kHz utterance: a phone that pocketsphinx starts at its frame f
(10 ms, 100 per second) starts at sample f * 160, where that frame's window starts; the first
segment starts at 0 and the last ends at the utterance's end, so every sample has one phone
(adjacent silences are merged). Moving every boundary to midway between pocketsphinx's frame
centres (f * 160 + 125: its window is 25.6 ms) was tried on FSDD and made the labels fit the
audio worse: the centre-frame baseline's unseen-speaker accuracy fell from 0.461 to 0.441 and the
context-20 MLP's from 0.667 to 0.657 (3 seeds); so boundaries stay at frame starts. Frames are data/audio.log_mel's
(40 bands up to the recordings' bandwidth, 25 ms window, 10 ms hop, centred: frame t is centred
on sample t * hop). A frame's phone is the segment holding its centre; its state is which of the
segment's `states_per_phone` equal parts the centre lies in (class id phone * states_per_phone + state).

Arrays (kept utterances only): utt (index in speech_utterances), speaker, label; segments
phone_utt (index into the kept utterances), phone_id, phone_start, phone_end; frames logmel
(all kept utterances' frames concatenated), frame_offsets (n + 1), frame_phone, frame_state
(class ids). meta.json: phones, states_per_phone, speakers, failed, counts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dlrepro.data import audio, phones, speech_gen, speech_utterances
from dlrepro.io import load_arrays, read_json, save_arrays

log = logging.getLogger(__name__)
UTTERANCE_ARRAYS = ["wave", "offsets", "speaker", "label", "phone_utt", "phone_id", "phone_start", "phone_end"]
ALIGN_RATE = 100  # pocketsphinx frames per second (its default -frate)


class Aligner:
    """pocketsphinx's forced aligner for single digit words at 16 kHz."""

    def __init__(self, sample_rate: int):
        if sample_rate != 16000:
            raise ValueError(f"speech_alignment: pocketsphinx's en-US model needs 16000 Hz audio, "
                             f"speech_utterances has {sample_rate} Hz")
        self.hop = sample_rate // ALIGN_RATE
        self.names = phones.phone_set()
        self.decoder = self._decoder()

    @staticmethod
    def _decoder():
        from pocketsphinx import Decoder

        model = phones.model_dir()
        return Decoder(hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"), lm=None, loglevel="FATAL")

    def _decode(self, raw: bytes) -> None:
        self.decoder.start_utt()
        self.decoder.process_raw(raw, full_utt=True)
        self.decoder.end_utt()

    def align(self, wave: np.ndarray, word: str) -> tuple[list[tuple[int, int, int]], str | None]:
        """[(phone index in phone_set(), start, end) in samples] covering the wave, or ([], reason)."""
        raw = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
        d = self.decoder
        try:
            d.set_align_text(word)
            self._decode(raw)
            if d.hyp() is None:
                return [], "no alignment path (the aligner found no way through the recording)"
            d.set_alignment()
            self._decode(raw)
        except RuntimeError as e:  # pocketsphinx gives up on this recording; start the next one afresh
            self.decoder = self._decoder()
            return [], f"pocketsphinx: {e}"
        found = [(p.name, p.start) for p in d.get_alignment().phones()]
        said = tuple(name for name, _ in found if name != phones.SILENCE)
        if said not in phones.pronunciations()[word]:
            return [], f"aligned phones {' '.join(said) or '(none)'} are no pronunciation of {word!r}"
        segments = []
        for name, start in found:
            if segments and name == phones.SILENCE == self.names[segments[-1][0]]:
                continue  # <sil> then </s>: one silence
            segments.append([self.names.index(name), start * self.hop, 0])
        segments[0][1] = 0
        for seg, nxt in zip(segments, segments[1:] + [[0, len(wave), 0]]):
            seg[2] = nxt[1]
        if any(end <= start for _, start, end in segments):
            return [], "a phone segment of zero length (the recording ends inside the word)"
        return [tuple(s) for s in segments], None


def align_fsdd(u: dict, meta: dict) -> tuple[list[int], list[tuple[int, int, int, int]], list[dict]]:
    """Kept utterance indices, segments (kept position, phone, start, end), failures."""
    aligner = Aligner(meta["sample_rate"])
    kept, segments, failed = [], [], []
    o = u["offsets"]
    manifest = [name for name, _ in speech_utterances.fsdd_manifest()]
    names = manifest if len(manifest) == len(o) - 1 else None  # FSDD's utterances are in its manifest's order
    for i in range(len(o) - 1):
        if i % 500 == 0:
            log.info("speech_alignment: aligning recording %d of %d", i + 1, len(o) - 1)
        word = phones.DIGIT_WORDS[int(u["label"][i])]
        rows, reason = aligner.align(u["wave"][o[i]:o[i + 1]], word)
        if reason is not None:
            failed.append({"utterance": i, "file": names[i] if names else None,
                           "speaker": meta["speakers"][int(u["speaker"][i])], "word": word, "reason": reason})
            continue
        segments += [(len(kept), *row) for row in rows]
        kept.append(i)
    return kept, segments, failed


def frame_labels(frame_offsets: np.ndarray, seg_utt: np.ndarray, seg_start: np.ndarray, seg_end: np.ndarray,
                 seg_phone: np.ndarray, hop: int, states: int) -> tuple[np.ndarray, np.ndarray]:
    """Phone and state class of every frame (centre t * hop of its utterance), without a Python loop
    over frames: segments sorted by (utterance, start) are searched on one global time axis."""
    n_frames = np.diff(frame_offsets)
    utt_of_frame = np.repeat(np.arange(len(n_frames)), n_frames)
    centre = (np.arange(frame_offsets[-1]) - frame_offsets[:-1][utt_of_frame]) * hop
    span = int(max(seg_end.max(), centre.max())) + 1  # one utterance's range on the global axis
    key = seg_utt * span + seg_start
    if np.any(np.diff(key) <= 0):
        raise ValueError("speech_alignment: segments must be sorted by utterance and start")
    first = np.searchsorted(seg_utt, np.arange(len(n_frames)))  # each utterance's first segment
    seg = np.searchsorted(key, utt_of_frame * span + centre, side="right") - 1
    seg = np.maximum(seg, first[utt_of_frame])  # never a segment of the utterance before
    start, end = seg_start[seg], seg_end[seg]
    state = np.clip((states * (centre - start)) // np.maximum(end - start, 1), 0, states - 1)
    phone = seg_phone[seg]
    return phone.astype(np.int64), (phone * states + state).astype(np.int64)


def prepare(values: dict, data_dir: str | Path, out: str | Path) -> dict:
    u = load_arrays(data_dir, UTTERANCE_ARRAYS)
    umeta = read_json(Path(data_dir) / "meta.json")
    rate, states = int(umeta["sample_rate"]), int(values["states_per_phone"])
    o = u["offsets"]
    if umeta["source"] == "embedded":
        if len(u["phone_utt"]) == 0:
            raise ValueError(f"{data_dir}: embedded utterances without phone alignments (phone_utt is empty)")
        kept, failed = list(range(len(o) - 1)), []
        seg = {"phone_utt": u["phone_utt"], "phone_id": u["phone_id"], "phone_start": u["phone_start"],
               "phone_end": u["phone_end"]}
        names, aligner = list(speech_gen.PHONE_NAMES), "speech_gen (the generator's own alignment)"
    else:
        kept, rows, failed = align_fsdd(u, umeta)
        if not kept:
            raise ValueError(f"{data_dir}: no utterance could be aligned ({failed[0]['reason'] if failed else 'none'})")
        rows = np.asarray(rows, np.int64)
        seg = {"phone_utt": rows[:, 0], "phone_id": rows[:, 1], "phone_start": rows[:, 2], "phone_end": rows[:, 3]}
        from importlib.metadata import version

        names, aligner = list(phones.phone_set()), f"pocketsphinx {version('pocketsphinx')} en-US, CMUdict"
    kept = np.asarray(kept, np.int64)
    hop = audio.mel_hop(rate)
    mels = [audio.log_mel(u["wave"][o[i]:o[i + 1]], rate, umeta["bandwidth_hz"]) for i in kept]
    frame_offsets = np.cumsum([0] + [len(m) for m in mels]).astype(np.int64)
    frame_phone, frame_state = frame_labels(frame_offsets, seg["phone_utt"], seg["phone_start"], seg["phone_end"],
                                            seg["phone_id"], hop, states)
    arrays = {"utt": kept, "speaker": u["speaker"][kept], "label": u["label"][kept],
              **{k: np.asarray(v, np.int64) for k, v in seg.items()},
              "logmel": np.concatenate(mels).astype(np.float32), "frame_offsets": frame_offsets,
              "frame_phone": frame_phone, "frame_state": frame_state}
    n = len(o) - 1
    meta = {"dataset": "speech_alignment", "source": umeta["source"], "sample_rate": rate, "aligner": aligner,
            "phones": names, "states_per_phone": states, "speakers": umeta["speakers"], "labels": umeta["labels"],
            "frame_hop": hop, "mel_fmax_hz": umeta["bandwidth_hz"], "n_utterances": n, "n_kept": int(len(kept)),
            "n_failed": len(failed), "failed": failed, "n_frames": int(frame_offsets[-1]),
            "phone_frames": {p: int(c) for p, c in zip(names, np.bincount(frame_phone, minlength=len(names)))},
            "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    if failed:
        log.warning("speech_alignment: %d of %d recordings failed to align and are left out (listed in meta.json)",
                    len(failed), n)
    save_arrays(out, arrays, meta)
    return meta
