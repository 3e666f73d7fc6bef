"""The course denoising pair (train_dirty_male = train_clean_male + noise) and two noisy test files.

Sources: download (upstream shaharpit809/Speech-Denoising-using-DNN-CNN-and-RNN at a pinned
commit, or the DLREPRO_MIRROR folder speech-denoise/; sha256 of every file pinned), local (a
folder holding the four files) or embedded (dlrepro.data.speech_gen.course_pair: one generated
male speaker with stationary pink noise, hum and babble at the same SNR as the real pair).

The pair is cut in time into three contiguous parts, train | validation | test (the test part,
at the end, is never trained on; validation picks epochs), each cut at a multiple of the hop.
Each part gets its own STFT (so no frame straddles two parts). Stored arrays:
clean, dirty (whole signals), bounds (sample boundaries of the parts), noisy_mag, clean_mag,
noisy_phase, ibm (1 where |clean| > |noise|), frame_bounds (frame boundaries of the parts in
those arrays), test_wave and test_offsets (the noisy test files, for listening only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrepro.data import audio
from dlrepro.data.sources import DataError, RemoteFile, fetch
from dlrepro.io import load_arrays, read_json, save_arrays

COMMIT = "23b27c02fda54dc0611ca84f80a21e0ef9a7757e"
URLS = (f"https://raw.githubusercontent.com/shaharpit809/Speech-Denoising-using-DNN-CNN-and-RNN/{COMMIT}/DNN/input/",)
FILES = {
    "clean": ("train_clean_male.wav", "f96d452d7023c3f9ffe75f3daa9e9223009c265d30de3f77074eae1bab5186a7"),
    "dirty": ("train_dirty_male.wav", "b4a4b1c82a8c3e9213d83767165d427c9f7d9f9f41ce708e35f4a2cf73a1ec39"),
    "test_x_01": ("test_x_01.wav", "a07a40a45381df4b69a66194ec9bd53fb37ad3cae775b4642beb8c18e9b2558c"),
    "test_x_02": ("test_x_02.wav", "8052e43043d8de6aa034ae8a7c486882840b2b3506395a87022e3819c84dd683"),
}
PARTS = ("train", "val", "test")


def from_download(values: dict, names=tuple(FILES)) -> tuple[dict, dict]:
    waves, files = {}, {}
    for key in names:
        name, sha = FILES[key]
        payload, origin = fetch(RemoteFile("speech-denoise", name, URLS, sha))
        waves[key] = audio.decode_wav(payload, origin, values["sample_rate"], values["resample"])
        files[key] = {"file": origin, "sha256": sha}
    return waves, files


def from_local(values: dict, names=tuple(FILES)) -> tuple[dict, dict]:
    folder = Path(values["local_path"] or "")
    waves = {key: audio.read_wav(folder / FILES[key][0], values["sample_rate"], values["resample"]) for key in names}
    return waves, {key: {"file": str(folder / FILES[key][0])} for key in names}


def from_embedded(values: dict) -> tuple[dict, dict]:
    from dlrepro.data import speech_gen  # scipy: only the data stage of the embedded profile needs it

    e = values["embedded"]
    waves = speech_gen.course_pair(e["seconds"], tuple(e["test_seconds"]), e["snr_db"], np.random.default_rng(e["seed"]))
    return waves, {"origin": "generated: dlrepro.data.speech_gen.course_pair", "seed": e["seed"]}


def load_waves(values: dict, names=tuple(FILES)) -> tuple[dict, dict]:
    """The four signals (or those named) from the source the params choose."""
    if values["source"] == "embedded":
        waves, files = from_embedded(values)
        return {k: waves[k] for k in names if k in waves}, files
    return (from_download if values["source"] == "download" else from_local)(values, names)


def part_bounds(n: int, val_fraction: float, test_fraction: float) -> np.ndarray:
    """Sample boundaries [0, end of train, end of validation, n], cut at multiples of the hop."""
    hop = audio.HOP
    test_start = int(n * (1 - test_fraction)) // hop * hop
    val_start = int(n * (1 - test_fraction - val_fraction)) // hop * hop
    if not 0 < val_start < test_start < n:
        raise ValueError(f"split fractions leave an empty part of the {n}-sample pair")
    return np.array([0, val_start, test_start, n], dtype=np.int64)


def features(clean: np.ndarray, dirty: np.ndarray, bounds: np.ndarray) -> dict:
    """STFT magnitudes, noisy phase and ideal binary mask of each part, frames concatenated."""
    out = {k: [] for k in ("noisy_mag", "clean_mag", "noisy_phase", "ibm")}
    frame_bounds = [0]
    for start, end in zip(bounds[:-1], bounds[1:]):
        noisy, clean_spec = audio.stft(dirty[start:end]), audio.stft(clean[start:end])
        noise_spec = audio.stft(dirty[start:end] - clean[start:end])
        out["noisy_mag"].append(np.abs(noisy))
        out["clean_mag"].append(np.abs(clean_spec))
        out["noisy_phase"].append(np.angle(noisy))
        out["ibm"].append(np.abs(clean_spec) > np.abs(noise_spec))
        frame_bounds.append(frame_bounds[-1] + len(noisy))
    arrays = {k: np.concatenate(v).astype(np.uint8 if k == "ibm" else np.float32) for k, v in out.items()}
    arrays["frame_bounds"] = np.asarray(frame_bounds, dtype=np.int64)
    return arrays


def prepare(values: dict, out: str | Path) -> dict:
    waves, files = load_waves(values)
    clean, dirty = waves["clean"], waves["dirty"]
    if len(clean) != len(dirty):
        raise DataError(f"{files.get('dirty', {}).get('file', 'dirty')}: {len(dirty)} samples, but the clean "
                        f"signal has {len(clean)}; the pair must be sample-aligned")
    split = values["split"]
    bounds = part_bounds(len(clean), split["val_fraction"], split["test_fraction"])
    tests = [waves[k] for k in sorted(waves) if k.startswith("test_")]
    arrays = {"clean": clean, "dirty": dirty, "bounds": bounds, **features(clean, dirty, bounds),
              "test_wave": np.concatenate(tests),
              "test_offsets": np.cumsum([0] + [len(t) for t in tests]).astype(np.int64)}
    meta = {
        "dataset": "speech_denoise",
        "source": values["source"],
        "sample_rate": values["sample_rate"],
        "files": files,
        "parts": PARTS,
        "seconds": {p: float((b - a) / values["sample_rate"]) for p, a, b in zip(PARTS, bounds[:-1], bounds[1:])},
        "noisy_snr_db": {p: audio.snr_db(clean[a:b], dirty[a:b]) for p, a, b in zip(PARTS, bounds[:-1], bounds[1:])},
        "shapes": {k: list(v.shape) for k, v in arrays.items()},
    }
    save_arrays(out, arrays, meta)
    return meta


PAIR_ARRAYS = ["clean", "dirty", "bounds", "noisy_mag", "clean_mag", "ibm", "frame_bounds", "test_wave",
               "test_offsets"]
TRAIN, VAL, TEST = 0, 1, 2  # the parts, in the order of PARTS


class Pair:
    """The prepared course pair (arrays and meta.json) and its three parts."""

    def __init__(self, data_dir: str | Path):
        self.a = load_arrays(data_dir, PAIR_ARRAYS)
        self.meta = read_json(Path(data_dir) / "meta.json")
        self.rate = self.meta["sample_rate"]
        self.scale = float(np.sqrt(np.mean(self.frames("noisy_mag", TRAIN).astype(np.float64) ** 2)))

    def frames(self, name: str, part: int) -> np.ndarray:
        fb = self.a["frame_bounds"]
        return self.a[name][fb[part]:fb[part + 1]]

    def wave(self, name: str, part: int) -> np.ndarray:
        b = self.a["bounds"]
        return self.a[name][b[part]:b[part + 1]]

    def test_files(self) -> list[np.ndarray]:
        o = self.a["test_offsets"]
        return [self.a["test_wave"][o[i]:o[i + 1]] for i in range(len(o) - 1)]
