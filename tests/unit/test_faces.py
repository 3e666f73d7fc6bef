"""Faces: the Yale B reader's structure checks, generated faces, seeded identity-disjoint splits and
pairs, the ResNet, the subspace baselines and the relighting augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlrepro.data import faces
from dlrepro.data.sources import DataError
from dlrepro.experiments.face_recognition import cosine_scores
from dlrepro.models import resnet, subspace
from dlrepro.train.augment import augment

W, H = faces.YALE_WIDTH, faces.YALE_HEIGHT


def pgm(value: int = 100, header: bytes | None = None) -> bytes:
    return (header if header is not None else f"P5\n{W} {H}\n255\n".encode()) + bytes([value]) * (W * H)


@pytest.fixture
def small_yale(tmp_path, monkeypatch):
    """A CroppedYale folder of 3 people x 3 lights (the counts the reader expects, patched down)."""
    monkeypatch.setattr(faces, "YALE_PEOPLE", 3)
    monkeypatch.setattr(faces, "YALE_MIN_CONDITIONS", 3)
    root = tmp_path / "CroppedYale"
    for k in (1, 2, 3):
        folder = root / f"yaleB{k:02d}"
        folder.mkdir(parents=True)
        for a, e in ((0, 0), (-35, 15), (110, 65)):
            (folder / f"yaleB{k:02d}_P00A{a:+04d}E{e:+03d}.pgm").write_bytes(pgm(10 * k))
    (root / "yaleB01" / "yaleB01_P00_Ambient.pgm").write_bytes(pgm(5))
    return root


def test_yale_reader_parses_names_lights_and_pixels(small_yale):
    arrays, info = faces.from_yale(str(small_yale.parent), downsample=3)
    assert arrays["images"].shape == (9, 64, 56) and arrays["images"].dtype == np.uint8
    assert arrays["person"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert sorted(set(zip(arrays["azimuth"].tolist(), arrays["elevation"].tolist()))) == [(-35, 15), (0, 0), (110, 65)]
    assert (arrays["images"][arrays["person"] == 1] == 20).all()
    assert info["people"] == ["yaleB01", "yaleB02", "yaleB03"]
    assert info["files"]["ambient_images_left_out"] == 1
    assert info["files"]["matches_published"] is False  # a made-up copy: recorded, not hidden


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(pgm(header=b"P2\n168 192\n255\n")), "not a binary PGM"),
    (lambda p: p.write_bytes(pgm(header=b"P5\n192 168\n255\n")), "PGM is 192x168 with maxval 255, expected 168x192"),
    (lambda p: p.write_bytes(pgm()[:-10]), "bytes of pixels, expected 32256"),
    (lambda p: p.rename(p.with_name("yaleB02_P00A+000E+00.pgm")), "names person yaleB02 but lies in the folder yaleB01"),
    (lambda p: p.rename(p.with_name("yaleB01_P00A+001E+00.pgm")), "not one of Yale B's 64"),
    (lambda p: p.rename(p.with_name("notes.txt")), "unexpected file name"),
])
def test_yale_structure_errors_name_the_file(small_yale, damage, message):
    path = small_yale / "yaleB01" / "yaleB01_P00A+000E+00.pgm"
    damage(path)
    with pytest.raises(DataError, match=message) as error:
        faces.from_yale(str(small_yale), downsample=3)
    assert str(small_yale / "yaleB01") in str(error.value)


def test_yale_reader_counts_people_and_lights(small_yale):
    (small_yale / "yaleB03" / "yaleB03_P00A+000E+00.pgm").unlink()
    with pytest.raises(DataError, match=r"yaleB03: 2 lit images, expected at least 3"):
        faces.from_yale(str(small_yale), downsample=3)
    with pytest.raises(DataError, match="expected 3 folders yaleBNN, found 0"):
        faces.from_yale(str(small_yale / "yaleB01"), downsample=3)
    with pytest.raises(DataError, match="faces.local_path"):
        faces.from_yale(None, downsample=3)


def test_pgm_header_may_hold_comments_and_block_means_average():
    image = faces.read_pgm(b"P5\n# a comment\n2 2\n255\n" + bytes([0, 30, 60, 90]), "x.pgm", 2, 2)
    assert image.tolist() == [[0, 30], [60, 90]]
    assert faces.block_mean(np.arange(36, dtype=np.uint8).reshape(6, 6), 3).tolist() == [[7, 10], [25, 28]]


def test_generated_faces_are_seeded_and_lighting_is_a_nuisance():
    images, person, condition = faces.generate(4, 32, 28, seed=0)
    assert images.shape == (4 * 64, 32, 28) and images.dtype == np.uint8
    again, _, _ = faces.generate(4, 32, 28, seed=0)
    other, _, _ = faces.generate(4, 32, 28, seed=1)
    assert np.array_equal(images, again) and not np.array_equal(images, other)
    x = images.reshape(4, 64, -1).astype(float)
    # the frontal light: one person's face differs from another's, and the same face differs more across lights
    frontal = faces.CONDITIONS.index((0, 0)), faces.CONDITIONS.index((-110, 15))
    across_people = np.abs(x[0, frontal[0]] - x[1, frontal[0]]).mean()
    across_lights = np.abs(x[0, frontal[0]] - x[0, frontal[1]]).mean()
    assert across_people > 2 and across_lights > across_people
    assert person.tolist() == np.repeat(np.arange(4), 64).tolist() and condition.max() == 63


def test_light_vectors_point_at_yale_b_lights():
    s = faces.light_vectors(np.array([0, 90, 0, -90]), np.array([0, 0, 90, 0]))
    assert np.allclose(s, [[0, 0, 1], [1, 0, 0], [0, -1, 0], [-1, 0, 0]], atol=1e-12)  # camera, side, above (rows run down)
    assert np.allclose(faces.light_angle(np.array([50, 0]), np.array([0, -35])), [50, 35])


def test_photometric_stereo_recovers_a_lambertian_surface_through_its_shadows():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(200, 3)) * [0.5, 0.5, 0] + [0, 0, 1]
    b = rng.uniform(0.3, 0.9, (200, 1)) * normal / np.linalg.norm(normal, axis=1, keepdims=True)
    lights = faces.light_vectors(*np.array(faces.CONDITIONS, float).T)
    unit = np.clip(lights @ b.T, 0, None)  # attached shadows: many pixels dark under the side lights
    assert (unit < 0.03).mean() > 0.2
    assert np.allclose(faces.surface(unit, lights), b, atol=1e-3)
    with pytest.raises(ValueError, match=r"faces \(64, 200\) and lights \(63, 3\)"):
        faces.surface(unit, lights[:63])


def test_relit_faces_render_each_persons_cone_from_its_own_faces_under_seeded_lights():
    images, person, condition = faces.generate(3, 32, 28, seed=0)
    az, el = np.array(faces.CONDITIONS).T
    az, el = az[condition], el[condition]
    mild = faces.light_angle(az, el) <= 50
    rendered, who, angle = faces.relit(images[mild], person[mild], az[mild], el[mild], 5, 120, 0.1,
                                       np.random.default_rng(0))
    assert rendered.shape == (15, 32, 28) and rendered.dtype == np.uint8 and who.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    # each render's light angle, in range, and the faces darken as their light swings away from the camera
    assert angle.shape == (15,) and 0 <= angle.min() and angle.max() <= 120
    assert np.corrcoef(angle, rendered.reshape(15, -1).mean(1))[0, 1] < -0.5
    again, _, _ = faces.relit(images[mild], person[mild], az[mild], el[mild], 5, 120, 0.1, np.random.default_rng(0))
    other, _, _ = faces.relit(images[mild], person[mild], az[mild], el[mild], 5, 120, 0.1, np.random.default_rng(1))
    assert np.array_equal(rendered, again) and not np.array_equal(rendered, other)
    # a person's surface from mild lights alone predicts that person's faces under the harsh ones
    harsh = (person == 1) & ~mild
    b = faces.surface(images[mild & (person == 1)].reshape(-1, 32 * 28) / 255,
                      faces.light_vectors(az[mild & (person == 1)], el[mild & (person == 1)]))
    predicted = np.clip(faces.light_vectors(az[harsh], el[harsh]) @ b.T, 0, None)
    truth = images[harsh].reshape(harsh.sum(), -1) / 255
    assert np.abs(predicted - truth).mean() < 0.03 < np.abs(truth - truth.mean(0)).mean()
    # drawn person by person: the first people's renders come back from their faces alone (the summary's view)
    first, _, _ = faces.relit(images[mild & (person < 2)], person[mild & (person < 2)], az[mild & (person < 2)],
                              el[mild & (person < 2)], 5, 120, 0.1, np.random.default_rng(0))
    assert np.array_equal(first, rendered[:10])
    none, nobody, _ = faces.relit(images, person, az, el, 0, 120, 0.1, np.random.default_rng(0))
    assert none.shape == (0, 32, 28) and len(nobody) == 0


def _toy_people(n_people: int = 12):
    az, el = np.array(faces.CONDITIONS).T
    return np.repeat(np.arange(n_people), 64), np.tile(az, n_people), np.tile(el, n_people)


@pytest.mark.parametrize("lights", ["random", "angle"])
def test_split_holds_out_whole_people_and_comes_back_from_the_seed(lights):
    person, az, el = _toy_people()
    s = faces.split(person, az, el, 3, 4, lights, 0.5, 50, 0.2)
    train_people = set(person[np.concatenate([s["train"], s["val"], s["test"]])])
    verify_people = set(person[s["verify"]])
    assert verify_people == set(s["held_out"]) and len(verify_people) == 4
    assert not train_people & verify_people  # no person both trained on and verified
    parts = [s[k] for k in ("train", "val", "test", "verify")]
    assert sum(map(len, parts)) == len(person) and len(np.unique(np.concatenate(parts))) == len(person)
    train_lights = set(zip(az[s["train"]], el[s["train"]])) | set(zip(az[s["val"]], el[s["val"]]))
    assert not train_lights & set(zip(az[s["test"]], el[s["test"]]))  # every test light is unseen
    if lights == "angle":
        assert faces.light_angle(az[s["train"]], el[s["train"]]).max() <= 50 < faces.light_angle(az[s["test"]], el[s["test"]]).min()
    else:
        assert len(train_lights) == 32
    assert np.all(np.bincount(person[s["val"]])[s["known"]] > 0)  # every known person validates
    again = faces.split(person, az, el, 3, 4, lights, 0.5, 50, 0.2)
    assert all(np.array_equal(s[k], again[k]) for k in s)
    other = faces.split(person, az, el, 4, 4, lights, 0.5, 50, 0.2)
    assert not np.array_equal(s["held_out"], other["held_out"]) or not np.array_equal(s["val"], other["val"])


def test_split_refuses_impossible_requests():
    person, az, el = _toy_people(4)
    with pytest.raises(ValueError, match="holdout_people is 3, must be 1 to 2"):
        faces.split(person, az, el, 0, 3, "random", 0.5, 50, 0.2)
    with pytest.raises(ValueError, match="unknown lights"):
        faces.split(person, az, el, 0, 1, "sideways", 0.5, 50, 0.2)


def test_pairs_are_every_unordered_pair_once():
    person = np.array([0, 0, 1, 2, 2, 2])
    i, j, same = faces.pairs(person)
    assert len(i) == 15 and np.all(i < j) and len(set(zip(i, j))) == 15
    assert same.sum() == 1 + 3 and np.array_equal(same, person[i] == person[j])


def test_cosine_scores():
    e = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    assert np.allclose(cosine_scores(e, np.array([0, 0, 0]), np.array([1, 2, 3])), [1, 0, -1])


def test_resnet34_layout_embedding_and_lighting_invariant_input():
    model = resnet.build({"blocks": [3, 4, 6, 3], "widths": [4, 8, 16, 32], "stem_stride": 2, "stem_pool": True,
                          "input_norm": "log", "dog_sigmas": [0.5, 1.0],
                          "head": {"kind": "linear", "scale": 30, "margin": 0.35}}, n_classes=5).eval()
    assert sum(isinstance(m, resnet.BasicBlock) for m in model.modules()) == 16  # ResNet-34: 3+4+6+3
    x = torch.rand(3, 1, 64, 56) * 1.6 - 0.8
    assert model(x).shape == (3, 5) and model.embed(x).shape == (3, 32)
    # log then standardise: a face twice as bright (a product, like a brighter lamp) looks the same
    brighter = ((x + 1) / 2 * 1.25) * 2 - 1
    assert torch.allclose(model.standardize(x), model.standardize(brighter), atol=2e-2)
    with pytest.raises(ValueError, match="one block count"):
        resnet.ResNet(5, [3, 4], [8])


def test_cosface_head_scores_cosines_and_its_loss_demands_the_margin():
    values = {"blocks": [1, 1], "widths": [4, 8], "stem_stride": 1, "stem_pool": False, "input_norm": "log",
              "dog_sigmas": [0.5, 1.0], "head": {"kind": "cosface", "scale": 30.0, "margin": 0.35}}
    model = resnet.build(values, n_classes=3).eval()
    x = torch.rand(4, 1, 12, 10, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    logits = model(x)
    e, w = model.embed(x), model.head.weight
    assert torch.allclose(logits, 30 * torch.nn.functional.cosine_similarity(e[:, None], w[None], dim=2), atol=1e-5)
    assert logits.abs().max() <= 30 + 1e-4  # bounded by the scale: only the angle counts
    # the loss is cross-entropy with 30 x 0.35 off the true class's logit; no margin, plain cross-entropy
    y = torch.tensor([0, 1, 2, 0])
    loss = resnet.loss_of(values)
    shifted = logits.clone()
    shifted[torch.arange(4), y] -= 30 * 0.35
    assert torch.isclose(loss(logits, y), torch.nn.functional.cross_entropy(shifted, y))
    assert loss(logits, y) > torch.nn.functional.cross_entropy(logits, y)
    assert resnet.loss_of({"head": {"kind": "linear", "scale": 30, "margin": 0.35}}) is None
    with pytest.raises(ValueError, match="not linear or cosface"):
        resnet.build({**values, "head": {"kind": "arcface", "scale": 30, "margin": 0.5}}, n_classes=3)


def test_gaussian_blur_matches_scipy():
    from scipy.ndimage import gaussian_filter

    x = torch.rand(2, 1, 12, 10, dtype=torch.float64)
    for sigma in (0.5, 1.0):
        expected = gaussian_filter(x.numpy(), (0, 0, sigma, sigma), mode="mirror", truncate=4.0)
        assert np.allclose(resnet.gaussian_blur(x, sigma).numpy(), expected, atol=1e-12)


def test_tantriggs_input_is_standardised_and_ignores_a_brighter_lamp():
    norm = resnet.Standardize("tantriggs", (0.5, 1.0))
    x = torch.rand(3, 1, 48, 42) * 1.6 - 0.8
    out = norm(x)
    assert out.shape == x.shape
    assert torch.allclose(out.mean((1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std((1, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    # gamma then DoG and contrast equalisation: a lamp 1.25 times brighter changes nothing but the 1/255 floor
    brighter = ((x + 1) / 2 * 1.25) * 2 - 1
    assert torch.allclose(out, norm(brighter), atol=1e-2)
    # a shading ramp across the face (the slow change a side light casts) is mostly removed, unlike
    # with plain standardisation
    ramp = torch.linspace(0.3, 1.0, 42).view(1, 1, 1, -1)
    shaded = ((x + 1) / 2 * ramp) * 2 - 1
    plain = resnet.Standardize("standardize")
    assert (norm(shaded) - out).abs().mean() < 0.5 * (plain(shaded) - plain(x)).abs().mean()
    with pytest.raises(ValueError, match="unknown input_norm 'raw'"):
        resnet.Standardize("raw")


def test_subspace_baselines_classify_separable_faces_and_embed():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (5, 40))
    y = np.repeat(np.arange(5), 12)
    x = centres[y] + 0.2 * rng.normal(0, 1, (60, 40))
    test_y = np.repeat(np.arange(5), 4)
    test_x = centres[test_y] + 0.2 * rng.normal(0, 1, (20, 40))
    eigen = subspace.eigenfaces(x, y, 10)
    fisher = subspace.fisherfaces(x, y, 30)
    assert (eigen.predict(test_x) == test_y).all() and (fisher.predict(test_x) == test_y).all()
    assert eigen.embed(test_x).shape == (20, 10) and fisher.embed(test_x).shape == (20, 4)  # c - 1 dimensions
    with pytest.raises(ValueError, match="at most 40 possible"):
        subspace.eigenfaces(x, y, 41)


def test_relighting_is_deterministic_in_range_and_keeps_each_image():
    x = torch.rand(6, 1, 16, 14) * 1.6 - 0.8
    settings = {"lighting_strength": 2.0, "lighting_gamma": 0.3}
    a = augment(x, ["lighting"], torch.Generator().manual_seed(0), settings)
    assert torch.equal(a, augment(x, ["lighting"], torch.Generator().manual_seed(0), settings))
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1 and not torch.equal(a, x)
    same = augment(x[:1].expand(6, -1, -1, -1).contiguous(), ["lighting"], torch.Generator().manual_seed(0), settings)
    assert not torch.allclose(same[0], same[1])  # one draw per image
    none = augment(x, ["lighting"], torch.Generator().manual_seed(0), {"lighting_strength": 0.0, "lighting_gamma": 0.0})
    assert torch.allclose(none, x, atol=1e-6)


@pytest.mark.realdata
def olivetti_mat(path, people: int = 3, faces_matrix: np.ndarray | None = None):
    """An olivettifaces.mat: people x 10 64x64 images as column-major columns; image k of person p
    is bright in its top rows (value 200) and 10 p + k below."""
    import scipy.io

    images = np.zeros((people * 10, 64, 64), np.uint8)
    for n in range(people * 10):
        images[n] = 10 * (n // 10) + n % 10
        images[n, :16] = 200
    if faces_matrix is None:
        faces_matrix = images.transpose(0, 2, 1).reshape(people * 10, -1).T  # column-major, as the file holds them
    scipy.io.savemat(path, {"faces": faces_matrix})
    return path


def test_olivetti_reader_orients_crops_resizes_and_labels(tmp_path):
    images, person, files = faces.read_olivetti(olivetti_mat(tmp_path / "o.mat"), (48, 42))
    assert images.shape == (30, 48, 42) and images.dtype == np.uint8
    assert np.array_equal(person, np.repeat([0, 1, 2], 10)) and files["people"] == 3
    assert np.all(images[:, :11] == 200) and np.all(images[:, 13:] < 200)  # upright: the bright band is on top
    assert np.array_equal(images[:, -1, 20], 10 * person + np.tile(np.arange(10), 3))


@pytest.mark.parametrize("matrix, message", [
    (np.zeros((4096, 25), np.uint8), r"is uint8 \(4096, 25\), expected uint8 \(4096, a multiple of 10\)"),
    (np.zeros((1024, 30), np.uint8), r"is uint8 \(1024, 30\)"),
    (np.zeros((4096, 30), np.float64), "is float64"),
])
def test_olivetti_structure_errors_name_the_file(tmp_path, matrix, message):
    path = olivetti_mat(tmp_path / "bad.mat", faces_matrix=matrix)
    with pytest.raises(DataError, match=f"bad.mat: 'faces' {message}"):
        faces.read_olivetti(path, (48, 42))
    import scipy.io

    scipy.io.savemat(tmp_path / "other.mat", {"images": np.zeros((4096, 10), np.uint8)})
    with pytest.raises(DataError, match="other.mat: no matrix 'faces' \\(found images\\)"):
        faces.read_olivetti(tmp_path / "other.mat", (48, 42))
    (tmp_path / "text.mat").write_text("not a MATLAB file")
    with pytest.raises(DataError, match="text.mat: not a readable MATLAB file"):
        faces.read_olivetti(tmp_path / "text.mat", (48, 42))
    with pytest.raises(DataError, match="missing.mat: not found"):
        faces.read_olivetti(tmp_path / "missing.mat", (48, 42))


@pytest.mark.parametrize("renders", [0, 2])
def test_the_stage_scores_every_olivetti_pair_with_every_method(tmp_path, renders):
    from dlrepro.experiments import face_recognition
    from dlrepro.io import read_json

    meta = faces.prepare({"source": "embedded", "local_path": None, "downsample": 4, "embedded": {"n_people": 8, "seed": 0},
                          "olivetti_path": str(olivetti_mat(tmp_path / "o.mat"))}, tmp_path / "faces")
    assert meta["shapes"]["olivetti_images"] == [30, 48, 42] and meta["olivetti"]["people"] == 3
    values = {"split": {"holdout_people": 3, "lights": "random", "train_share": 0.5, "train_max_angle": 50,
                        "val_fraction": 0.15},
              "model": {"blocks": [1, 1], "widths": [4, 8], "stem_stride": 2, "stem_pool": True, "input_norm": "log",
                        "dog_sigmas": [0.5, 1.0], "head": {"kind": "linear", "scale": 30, "margin": 0.35}},
              "augment": {"ops": [], "crop_pad": 2, "brightness": 0.1, "lighting_strength": 1.0, "lighting_gamma": 0.3},
              "relight": {"per_person": renders, "max_angle": 120, "ambient": 0.1},
              "baselines": {"eigen_components": 10, "fisher_components": 20},
              "train": {"optimizer": "adam", "lr": 0.01, "lr_schedule": "cosine", "batch_size": 64, "epochs": 1,
                        "best_by": "loss", "seeds": [0]}}
    metrics = face_recognition.train(tmp_path / "faces", values, {"device": "cpu", "threads": 1}, tmp_path / "runs",
                                     tmp_path / "metrics.json", tmp_path / "provenance.json", "tiny")
    run = read_json(tmp_path / "runs" / "seed0" / "metrics.json")
    for p in ("", "eigenfaces_", "fisherfaces_"):
        assert 0 <= run[f"{p}olivetti_verify_auc"] <= 1 and 0 <= run[f"{p}olivetti_verify_eer"] <= 1
    assert metrics["olivetti_verify_auc"]["n"] == 1 and "olivetti_verify_eer" in metrics
    assert run["n_rendered"] == renders * 5  # of each of the 5 known people
    setting = read_json(tmp_path / "provenance.json")["setting"]
    assert ("2 illumination-cone renders a known person" in setting) == bool(renders)
    face_recognition.summarize(tmp_path / "faces", tmp_path.parent, [tmp_path.name], values,
                               {"device": "cpu", "threads": 1}, tmp_path / "summary")
    assert (tmp_path / "summary" / "samples.png").stat().st_size > 0
    summary = read_json(tmp_path / "summary" / "summary.json")
    assert bool(summary["renders"]) == bool(renders)  # the page's sentence
    errors = summary["misclassified"][tmp_path.name]
    assert errors["n_test"] == [run["n_test"]]
    for name, p in (("ResNet", ""), ("Eigenfaces", "eigenfaces_"), ("Fisherfaces", "fisherfaces_")):
        assert errors[name][0] / run["n_test"] == pytest.approx(1 - run[f"{p}test_accuracy"], abs=1e-12)


def test_misclassified_counts_the_faces_each_method_missed():
    from dlrepro.experiments.face_recognition import misclassified

    per_seed = [{"n_test": 892, "test_accuracy": 881 / 892, "eigenfaces_test_accuracy": 820 / 892,
                 "fisherfaces_test_accuracy": 890 / 892},
                {"n_test": 888, "test_accuracy": 876 / 888, "eigenfaces_test_accuracy": 853 / 888,
                 "fisherfaces_test_accuracy": 1.0}]
    assert misclassified(per_seed) == {"n_test": [892, 888], "ResNet": [11, 12], "Eigenfaces": [72, 35],
                                     "Fisherfaces": [2, 0]}


@pytest.mark.realdata
def test_olivetti_from_the_mirror(mirror):
    images, person, files = faces.read_olivetti(mirror / "olivetti-faces" / "olivettifaces.mat", (48, 42))
    assert images.shape == (400, 48, 42) and np.array_equal(np.bincount(person), np.full(40, 10))
    assert 60 < images.mean() < 140  # faces, not an empty or saturated frame


def test_extended_yale_b_from_the_mirror(mirror):
    arrays, info = faces.from_yale(str(mirror / "extended-yale-b" / "CroppedYale"), downsample=3)
    assert arrays["images"].shape == (2414, 64, 56) and len(info["people"]) == 38
    assert info["files"]["matches_published"] and info["files"]["ambient_images_left_out"] == 10
    assert np.bincount(arrays["person"]).min() >= 59
