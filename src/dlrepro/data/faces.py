"""Faces of many people under many lights: the data of face classification and verification.

local: the cropped Extended Yale Face Database B (Georghiades, Belhumeur, Kriegman 2001; Lee,
Ho, Kriegman 2005), a folder `CroppedYale/yaleBNN/yaleBNN_P00A{azimuth}E{elevation}.pgm`: 38
people, 59 to 65 of the 64 light directions each, 168x192 binary PGM (P5, 8 bit). It is
validated by structure (folder and file names, PGM header, size, every person's count), and the
sha256 of every file concatenated in sorted path order is recorded beside the pinned one of the
published copy (a mismatch is recorded, not an error: a user's copy may differ). The ambient
images (`_P00_Ambient.pgm`, no light direction) are counted and left out. Images are reduced by
block averages of `downsample` x `downsample` pixels (3: 192x168 -> 64x56, the original's 64-pixel
faces).

embedded: `generate`: n_people generated "faces", each a smooth random height field (a head
ellipsoid, brow, eye sockets, nose and mouth at person-specific places, plus smooth bumps) with
its own albedo, rendered as Lambertian surfaces under the same 64 light directions as Yale B, so
lighting is as much of a nuisance as in the real data, and a split by light angle means the same.

A second corpus for verification only, when `olivetti_path` names a local olivettifaces.mat: the
Olivetti (AT&T Cambridge) faces, 40 people × 10 images with pose and expression varying under
even light, never trained on. The file is validated by structure (a uint8 matrix `faces` of
4096 × N, column-major 64×64 images, 10 a person); each image is cropped to Yale's 8:7 (the
central 56 of 64 columns) and resized to the Yale images' size.

`relit` renders more faces of a person from their own (photometric stereo, then new lights with
attached shadows: a sample of the illumination cone of Georghiades, Belhumeur and Kriegman 2001),
for training on a split's faces; the prepared arrays hold only the captured faces.

Arrays: images (N, H, W) uint8, person (N,), azimuth and elevation (N,) degrees; olivetti_images
(M, H, W) and olivetti_person (M,), empty without olivetti_path. meta.json names the people, the
light-angle rule and the files.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from dlrepro.data.sources import DataError
from dlrepro.io import save_arrays

# sha256 of every file of the published cropped Extended Yale B concatenated in sorted path order
YALE_SHA256 = "178c2a3101950aa005c423443be44af53f41166ee4f90d09d29f422c0ba25497"
YALE_PEOPLE = 38
YALE_WIDTH, YALE_HEIGHT = 168, 192
YALE_MIN_CONDITIONS = 59
PERSON = re.compile(r"^yaleB(\d\d)$")
IMAGE = re.compile(r"^yaleB(\d\d)_P00A([+-]\d{3})E([+-]\d{2})\.pgm$")
AMBIENT = re.compile(r"^yaleB(\d\d)_P00_Ambient\.pgm$")
OLIVETTI_SIDE, OLIVETTI_TAKES = 64, 10
# The 64 light directions of Yale B, (azimuth, elevation) in degrees
CONDITIONS = (
    (0, 0), (0, 20), (0, 45), (0, 90), (0, -20), (0, -35), (5, 10), (5, -10), (10, 0), (10, -20), (15, 20),
    (20, 10), (20, -10), (20, -40), (25, 0), (35, 15), (35, 40), (35, 65), (35, -20), (50, 0), (50, -40),
    (60, 20), (60, -20), (70, 0), (70, 45), (70, -35), (85, 20), (85, -20), (95, 0), (110, 15), (110, 40),
    (110, 65), (110, -20), (120, 0), (130, 20), (-5, 10), (-5, -10), (-10, 0), (-10, -20), (-15, 20), (-20, 10),
    (-20, -10), (-20, -40), (-25, 0), (-35, 15), (-35, 40), (-35, 65), (-35, -20), (-50, 0), (-50, -40),
    (-60, 20), (-60, -20), (-70, 0), (-70, 45), (-70, -35), (-85, 20), (-85, -20), (-95, 0), (-110, 15),
    (-110, 40), (-110, 65), (-110, -20), (-120, 0), (-130, 20))


def light_vectors(azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Unit vectors (N, 3) toward each light in image coordinates: x along the columns, y down the
    rows (so a positive elevation, a light above, has negative y), z toward the camera."""
    a, e = np.radians(np.asarray(azimuth, float)), np.radians(np.asarray(elevation, float))
    return np.stack([np.sin(a) * np.cos(e), -np.sin(e), np.cos(a) * np.cos(e)], -1)


def axis_angle(vectors: np.ndarray) -> np.ndarray:
    """Degrees between each unit vector (..., 3) and the camera axis (+z)."""
    return np.degrees(np.arccos(np.clip(vectors[..., 2], -1, 1)))


def light_angle(azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Degrees between the light and the camera axis (Yale B's subsets are bands of it:
    <= 12, 25, 50, 77 and beyond)."""
    return axis_angle(light_vectors(azimuth, elevation))


SUBSET_EDGES = (12, 25, 50, 77)  # Yale B's five subsets by light angle (Georghiades et al. 2001)
SUBSETS = ("<= 12", "12-25", "25-50", "50-77", "> 77")


def subset(angle: np.ndarray) -> np.ndarray:
    """Yale B's subset (0 to 4) of each light angle."""
    return np.digitize(angle, SUBSET_EDGES, right=True)


def read_pgm(raw: bytes, origin: str, width: int, height: int) -> np.ndarray:
    """An 8-bit binary PGM (P5) of the given size, checked; '#' comments in the header allowed."""
    fields, pos = [], 0
    while len(fields) < 4:
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            pos = raw.find(b"\n", pos) + 1 or len(raw)
            continue
        end = pos
        while end < len(raw) and not raw[end:end + 1].isspace():
            end += 1
        if end == pos:
            raise DataError(f"{origin}: truncated PGM header (found {len(fields)} of 4 fields)")
        fields.append(raw[pos:end])
        pos = end
    pos += 1  # the single whitespace before the pixels
    if fields[0] != b"P5":
        raise DataError(f"{origin}: not a binary PGM: magic {fields[0][:8]!r}, expected b'P5'")
    try:
        w, h, maxval = (int(f) for f in fields[1:])
    except ValueError:
        raise DataError(f"{origin}: PGM header fields are not integers: {fields[1:]}") from None
    if (w, h, maxval) != (width, height, 255):
        raise DataError(f"{origin}: PGM is {w}x{h} with maxval {maxval}, expected {width}x{height} with maxval 255")
    pixels = raw[pos:]
    if len(pixels) != w * h:
        raise DataError(f"{origin}: {len(pixels)} bytes of pixels, expected {w * h} ({w}x{h})")
    return np.frombuffer(pixels, np.uint8).reshape(h, w)


def block_mean(images: np.ndarray, factor: int) -> np.ndarray:
    """Images (..., H, W) reduced by averaging factor x factor blocks (edges that do not fill a
    block are cropped), rounded back to uint8."""
    h, w = images.shape[-2] // factor * factor, images.shape[-1] // factor * factor
    x = images[..., :h, :w].astype(np.float32)
    x = x.reshape(*x.shape[:-2], h // factor, factor, w // factor, factor).mean((-3, -1))
    return np.rint(x).astype(np.uint8)


def from_yale(folder: str | None, downsample: int) -> tuple[dict, dict]:
    """The cropped Extended Yale B from a local folder (CroppedYale, or the folder holding it)."""
    if not folder:
        raise DataError("faces.local_path: must name the CroppedYale folder when faces.source is local")
    root = Path(folder)
    if (root / "CroppedYale").is_dir():
        root = root / "CroppedYale"
    if not root.is_dir():
        raise DataError(f"{root}: not found (faces.local_path should be the CroppedYale folder)")
    people = sorted(p for p in root.iterdir() if p.is_dir())
    names = [p.name for p in people if PERSON.match(p.name)]
    if len(names) != YALE_PEOPLE:
        raise DataError(f"{root}: expected {YALE_PEOPLE} folders yaleBNN, found {len(names)} "
                        f"({', '.join(names[:5])}{'...' if len(names) > 5 else ''})")
    digest = hashlib.sha256()
    images, person, azimuth, elevation, ambient = [], [], [], [], 0
    for k, name in enumerate(names):
        count = 0
        for path in sorted((root / name).iterdir()):
            if not path.is_file():
                continue
            raw = path.read_bytes()
            digest.update(raw)
            m = IMAGE.match(path.name)
            if m is None:
                if AMBIENT.match(path.name) and path.name.startswith(name):
                    ambient += 1
                    continue
                raise DataError(f"{path}: unexpected file name (expected {name}_P00A<+/-azimuth>E<+/-elevation>.pgm)")
            if f"yaleB{m[1]}" != name:
                raise DataError(f"{path}: names person yaleB{m[1]} but lies in the folder {name}")
            if (int(m[2]), int(m[3])) not in CONDITIONS:
                raise DataError(f"{path}: light direction A{m[2]} E{m[3]} is not one of Yale B's 64")
            images.append(block_mean(read_pgm(raw, str(path), YALE_WIDTH, YALE_HEIGHT), downsample))
            person.append(k)
            azimuth.append(int(m[2]))
            elevation.append(int(m[3]))
            count += 1
        if count < YALE_MIN_CONDITIONS:
            raise DataError(f"{root / name}: {count} lit images, expected at least {YALE_MIN_CONDITIONS} of 64")
    arrays = {"images": np.stack(images), "person": np.array(person, np.int64),
              "azimuth": np.array(azimuth, np.int16), "elevation": np.array(elevation, np.int16)}
    sha = digest.hexdigest()
    files = {"folder": str(root), "corpus": "Extended Yale B (cropped)", "sha256_all_files": sha,
             "matches_published": sha == YALE_SHA256, "ambient_images_left_out": ambient}
    return arrays, {"people": names, "files": files}


def read_olivetti(path: str | Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Olivetti's faces from a local olivettifaces.mat, checked, cropped to 8:7 and resized to size
    (H, W): images (M, H, W) uint8, person (M,), and what was read."""
    import scipy.io
    from scipy.ndimage import zoom

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: not found (faces.olivetti_path should be olivettifaces.mat)")
    raw = path.read_bytes()
    try:
        mat = scipy.io.loadmat(path)
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError) as exc:
        raise DataError(f"{path}: not a readable MATLAB file ({exc})") from None
    faces = mat.get("faces")
    if faces is None:
        raise DataError(f"{path}: no matrix 'faces' (found {', '.join(k for k in mat if not k.startswith('__'))})")
    if faces.dtype != np.uint8 or faces.ndim != 2 or faces.shape[0] != OLIVETTI_SIDE ** 2 \
            or faces.shape[1] == 0 or faces.shape[1] % OLIVETTI_TAKES:
        raise DataError(f"{path}: 'faces' is {faces.dtype} {faces.shape}, expected uint8 "
                        f"({OLIVETTI_SIDE ** 2}, a multiple of {OLIVETTI_TAKES}): {OLIVETTI_SIDE}x{OLIVETTI_SIDE} "
                        f"images as columns, {OLIVETTI_TAKES} a person")
    images = faces.T.reshape(-1, OLIVETTI_SIDE, OLIVETTI_SIDE).transpose(0, 2, 1)  # column-major images
    side = OLIVETTI_SIDE * 7 // 8
    cropped = images[:, :, (OLIVETTI_SIDE - side) // 2:(OLIVETTI_SIDE + side) // 2].astype(np.float32)
    resized = zoom(cropped, (1, size[0] / OLIVETTI_SIDE, size[1] / side), order=1)
    person = np.repeat(np.arange(faces.shape[1] // OLIVETTI_TAKES), OLIVETTI_TAKES)
    files = {"file": str(path), "corpus": "Olivetti faces (AT&T Cambridge)", "sha256": hashlib.sha256(raw).hexdigest(),
             "people": int(person.max() + 1), "crop": f"{OLIVETTI_SIDE}x{side} (central columns), resized"}
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8), person.astype(np.int64), files


# ---------------------------------------------------------------------------------------------
# Embedded: generated faces under Yale B's lights


def _bump(u, v, cu, cv, ru, rv):
    """A smooth bump of height 1 centred at (cu, cv) with radii (ru, rv); arrays broadcast over people."""
    return np.exp(-(((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2))


def _smooth(rng: np.random.Generator, n: int, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth random fields (n, h, w) in about [-1, 1]: a coarse Gaussian grid, bilinearly upsampled."""
    coarse = rng.normal(0, 1, (n, cells + 1, cells + 1))
    y, x = np.linspace(0, cells, h), np.linspace(0, cells, w)
    y0, x0 = np.minimum(y.astype(int), cells - 1), np.minimum(x.astype(int), cells - 1)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    c = coarse
    top = c[:, y0][:, :, x0] * (1 - fx) + c[:, y0][:, :, x0 + 1] * fx
    bottom = c[:, y0 + 1][:, :, x0] * (1 - fx) + c[:, y0 + 1][:, :, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy) / 2


def generate(n_people: int, height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every person under every one of the 64 light directions: images (n_people*64, H, W) uint8,
    person, condition index. Lambertian shading of each person's height field (no cast shadows),
    times the person's albedo, plus a little ambient light and pixel noise."""
    rng = np.random.default_rng(seed)
    v, u = np.meshgrid(np.linspace(-1.15, 1.15, height), np.linspace(-1, 1, width), indexing="ij")
    n = n_people

    def r(lo, hi):  # one value per person, shaped to broadcast over the image
        return rng.uniform(lo, hi, (n, 1, 1))

    head_w, head_h = r(0.72, 0.9), r(0.95, 1.1)
    head = np.sqrt(np.clip(1 - (u / head_w) ** 2 - (v / head_h) ** 2, 0, None))
    eye_y, eye_x, eye_r = r(-0.3, -0.1), r(0.25, 0.4), r(0.1, 0.17)
    nose_len, nose_w, nose_h = r(0.25, 0.45), r(0.07, 0.14), r(0.25, 0.45)
    mouth_y, mouth_w = r(0.4, 0.6), r(0.2, 0.35)
    z = (0.8 * head
         - r(0.12, 0.25) * (_bump(u, v, -eye_x, eye_y, eye_r, eye_r * 0.7) + _bump(u, v, eye_x, eye_y, eye_r, eye_r * 0.7))
         + r(0.06, 0.15) * _bump(u, v, 0, eye_y - r(0.15, 0.25), 0.5, 0.08)  # brow
         + nose_h * _bump(u, v, 0, eye_y + nose_len / 2 + 0.05, nose_w, nose_len)
         - r(0.03, 0.08) * _bump(u, v, 0, mouth_y, mouth_w, 0.05)
         + r(0.03, 0.08) * _smooth(rng, n, height, width, 4)) * (head > 0)
    albedo = (r(0.5, 0.9) * (1 + 0.15 * _smooth(rng, n, height, width, 6))
              * (1 - r(0.3, 0.6) * (_bump(u, v, -eye_x, eye_y, eye_r * 0.45, eye_r * 0.3)
                                    + _bump(u, v, eye_x, eye_y, eye_r * 0.45, eye_r * 0.3)))
              * (1 - r(0.2, 0.4) * _bump(u, v, 0, mouth_y, mouth_w * 0.8, 0.04)))
    albedo = np.where(head > 0, albedo, r(0.05, 0.25))  # the background: a dim wall, per person
    dz_dv, dz_du = np.gradient(z * 3, axis=(1, 2))
    normal = np.stack([-dz_du, -dz_dv, np.ones_like(z)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = light_vectors(*np.array(CONDITIONS, float).T)  # (64, 3)
    shade = np.clip(np.einsum("phwc,kc->pkhw", normal, light), 0, None)
    images = albedo[:, None] * (0.04 + 0.96 * shade) + rng.normal(0, 0.015, (n, len(CONDITIONS), height, width))
    images = np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8).reshape(-1, height, width)
    person = np.repeat(np.arange(n), len(CONDITIONS))
    condition = np.tile(np.arange(len(CONDITIONS)), n)
    return images, person, condition


def from_embedded(n_people: int, seed: int, downsample: int) -> tuple[dict, dict]:
    images, person, condition = generate(n_people, YALE_HEIGHT // downsample, YALE_WIDTH // downsample, seed)
    az, el = np.array(CONDITIONS, np.int16).T
    arrays = {"images": images, "person": person.astype(np.int64), "azimuth": az[condition], "elevation": el[condition]}
    files = {"origin": "generated: dlrepro.data.faces.generate", "seed": seed}
    return arrays, {"people": [f"person{k:02d}" for k in range(n_people)], "files": files}


def prepare(values: dict, out: str | Path) -> dict:
    """Build the faces chosen by the resolved `faces` params and write them as arrays to out."""
    source = values["source"]
    if source == "embedded":
        arrays, info = from_embedded(values["embedded"]["n_people"], values["embedded"]["seed"], values["downsample"])
    else:
        arrays, info = from_yale(values["local_path"], values["downsample"])
    size = arrays["images"].shape[1:]
    if values["olivetti_path"]:
        arrays["olivetti_images"], arrays["olivetti_person"], info["olivetti"] = read_olivetti(values["olivetti_path"],
                                                                                              size)
    else:
        arrays["olivetti_images"], arrays["olivetti_person"] = np.zeros((0, *size), np.uint8), np.zeros(0, np.int64)
    angle = light_angle(arrays["azimuth"], arrays["elevation"])
    meta = {"dataset": "faces", "source": source, **info, "n_images": int(len(arrays["person"])),
            "image_size": list(arrays["images"].shape[1:]), "downsample": values["downsample"],
            "light_angle": "degrees between light and camera axis: arccos(cos(azimuth) cos(elevation))",
            "images_by_light_angle": dict(zip(SUBSETS, np.bincount(subset(angle), minlength=len(SUBSETS)).tolist())),
            "shapes": {k: list(v.shape) for k, v in arrays.items()}}
    save_arrays(out, arrays, meta)
    return meta


# ---------------------------------------------------------------------------------------------
# Splits and verification pairs


def split(person: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray, seed: int, holdout_people: int,
          lights: str, train_share: float, train_max_angle: float, val_fraction: float) -> dict[str, np.ndarray]:
    """Indices of one seed's split, drawn from np.random.default_rng(seed):

    - verify: every image of `holdout_people` people drawn at random, never trained on;
    - the training lights: with lights "random", a random train_share of the light directions
      (every test light is then one the classifier never saw, within the same range of angles);
      with lights "angle", those within train_max_angle degrees of the camera axis (the test
      lights are all harsher);
    - the other (known) people's images under the training lights are split per person into
      train and val (val_fraction of each person's, at random); test: their images under the
      other lights.
    Also `known` and `held_out` (the people of each side) and `train_lights` (a mask over images).
    """
    rng = np.random.default_rng(seed)
    people = np.unique(person)
    if not 1 <= holdout_people <= len(people) - 2:
        raise ValueError(f"faces split: holdout_people is {holdout_people}, must be 1 to {len(people) - 2} "
                         f"({len(people)} people, at least 2 left to classify)")
    held_out = np.sort(rng.choice(people, holdout_people, replace=False))
    known_image = ~np.isin(person, held_out)
    if lights == "random":
        condition = azimuth.astype(np.int64) * 1000 + elevation
        conditions = np.unique(condition)
        chosen = rng.choice(conditions, int(round(train_share * len(conditions))), replace=False)
        mild = np.isin(condition, chosen)
    elif lights == "angle":
        mild = light_angle(azimuth, elevation) <= train_max_angle
    else:
        raise ValueError(f"faces split: unknown lights {lights!r} (random, angle)")
    pool = rng.permutation(np.flatnonzero(known_image & mild))
    pool = pool[np.argsort(person[pool], kind="stable")]  # grouped by person, random within a person
    first = np.searchsorted(person[pool], person[pool], side="left")
    rank = np.arange(len(pool)) - first
    count = np.bincount(person[pool], minlength=person.max() + 1)[person[pool]]
    is_val = rank < np.rint(val_fraction * count)
    parts = {"train": np.sort(pool[~is_val]), "val": np.sort(pool[is_val]),
             "test": np.flatnonzero(known_image & ~mild), "verify": np.flatnonzero(~known_image)}
    short = [k for k in ("train", "test") if len(parts[k]) == 0]
    if short:
        raise ValueError(f"faces split: no {' or '.join(short)} images (lights {lights})")
    return {**parts, "known": np.setdiff1d(people, held_out), "held_out": held_out, "train_lights": mild}


def pairs(person: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair (i < j) of the given images: first, second, same person (bool)."""
    i, j = np.triu_indices(len(person), 1)
    return i, j, person[i] == person[j]


def surface(unit: np.ndarray, lights: np.ndarray, dark: float = 0.03, bright: float = 0.97,
            ridge: float = 1e-3) -> np.ndarray:
    """Photometric stereo (Woodham 1980): one person's faces `unit` (n, P) in [0, 1] under the
    known `lights` (n, 3) -> b (P, 3), each pixel's albedo times its surface normal, by least
    squares of I = b . s over the images where that pixel is neither in shadow (< dark) nor
    saturated (> bright): a Lambertian face's images under any light are max(b . s, 0)."""
    if unit.ndim != 2 or lights.shape != (len(unit), 3):
        raise ValueError(f"surface: faces {unit.shape} and lights {lights.shape} do not match (n, P) and (n, 3)")
    lit = ((unit > dark) & (unit < bright)).astype(np.float64)
    normal_matrix = np.einsum("np,ni,nj->pij", lit, lights, lights) + ridge * np.eye(3)
    moment = np.einsum("np,np,ni->pi", lit, unit, lights)
    return np.linalg.solve(normal_matrix, moment[..., None])[..., 0]


def cap_lights(rng: np.random.Generator, k: int, max_angle: float) -> np.ndarray:
    """k light directions (k, 3) uniform over the sphere within max_angle degrees of the camera axis."""
    z = rng.uniform(np.cos(np.radians(max_angle)), 1, k)
    turn = rng.uniform(0, 2 * np.pi, k)
    r = np.sqrt(1 - z ** 2)
    return np.stack([r * np.cos(turn), r * np.sin(turn), z], -1)


def relit(images: np.ndarray, person: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray, per_person: int,
          max_angle: float, ambient: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each person's illumination cone sampled (Georghiades, Belhumeur, Kriegman 2001, with attached
    shadows only): the person's surface from the given faces (photometric stereo), rendered under
    per_person lights drawn within max_angle of the camera axis, plus ambient light of a random share
    in [0, ambient] of the albedo, pixel noise of one grey level, rounded to uint8 like the faces.
    Drawn person by person, in order. Returns the rendered faces (per_person * people, H, W), their
    person and their light's angle from the camera axis (degrees)."""
    people = np.unique(person) if per_person > 0 else np.zeros(0, person.dtype)
    out, angles = [np.zeros((0, *images.shape[1:]), np.uint8)], [np.zeros(0)]
    for p in people:
        mine = person == p
        b = surface(images[mine].reshape(mine.sum(), -1) / 255, light_vectors(azimuth[mine], elevation[mine]))
        lights = cap_lights(rng, per_person, max_angle)
        lit = np.clip(lights @ b.T, 0, None) + rng.uniform(0, ambient, (per_person, 1)) * np.linalg.norm(b, axis=1)
        lit += rng.normal(0, 1 / 255, lit.shape)
        out.append(np.rint(np.clip(lit, 0, 1) * 255).astype(np.uint8).reshape(per_person, *images.shape[1:]))
        angles.append(axis_angle(lights))
    return np.concatenate(out), np.repeat(people, per_person), np.concatenate(angles)
