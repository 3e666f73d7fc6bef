"""cgan-center: the detached reconstruction term (the original's flaw) gives the generator no
gradient and the trained one does; a short training lowers the trained term and not the detached
one; the family's stages on toy digits, and the flaw comparison."""

from __future__ import annotations

import json

import pytest
import torch

from dlrepro.experiments import cgan_center
from dlrepro.models import gan
from dlrepro.train.gan import generator_loss, train_gan
from tests.unit.gan_helpers import one_thread  # noqa: F401  (the fixture every test here uses)
from tests.unit.gan_helpers import MODEL, RUNTIME, TRAIN, judge_folder, toy_data_dir, toy_digits

pytestmark = pytest.mark.usefixtures("one_thread")

PATCH = {"start": 9, "size": 10}


def test_centre_is_rows_and_columns_9_to_18():
    images = torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28)
    patch = cgan_center.centre(images, PATCH)
    assert patch.shape == (1, 1, 10, 10)
    assert patch[0, 0, 0, 0] == 9 * 28 + 9 and patch[0, 0, -1, -1] == 18 * 28 + 18
    blanked = cgan_center.only_centre(images, PATCH)
    assert blanked.sum() == patch.sum() and blanked[0, 0, 9:19, 9:19].equal(patch[0, 0])


@pytest.mark.parametrize("target", ["image", "centre"])
def test_the_detached_term_gives_the_generator_no_gradient_and_the_trained_one_does(target):
    torch.manual_seed(0)
    x, _ = toy_digits(16)
    condition = cgan_center.centre(x, PATCH).flatten(1)
    gen, disc = gan.build(MODEL, 100)
    z = torch.randn(16, MODEL["noise"])
    params = list(gen.parameters())

    def gradients(detach: bool):
        fake = gen(z, condition)
        term = cgan_center.reconstruction({"weight": 100.0, "target": target, "detach": detach}, PATCH)
        total, adversarial, rec = generator_loss(disc, fake, x, condition, term)
        assert total.item() == pytest.approx(adversarial.item() + 100.0 * rec.item(), rel=1e-6)
        assert rec.item() > 1e-3  # the term has a value either way (the original printed it)
        grad_total = torch.autograd.grad(total, params, retain_graph=True)
        grad_adversarial = torch.autograd.grad(adversarial, params, retain_graph=True)
        grad_term = torch.autograd.grad(rec, params, allow_unused=True) if rec.requires_grad else None
        return grad_total, grad_adversarial, grad_term

    total, adversarial, term = gradients(detach=True)
    assert term is None  # no path from the detached term back to the generator
    assert all(torch.equal(a, b) for a, b in zip(total, adversarial))
    total, adversarial, term = gradients(detach=False)
    assert all(torch.allclose(t, a + 100.0 * r, rtol=1e-4, atol=1e-6) for t, a, r in zip(total, adversarial, term))
    assert max((t - a).abs().max().item() for t, a in zip(total, adversarial)) > 1e-3


def short_training(detach: bool) -> list[dict]:
    torch.manual_seed(0)
    x, y = toy_digits(256)
    condition = cgan_center.centre(x, PATCH).flatten(1)
    gen, disc = gan.build(MODEL, 100)
    term = cgan_center.reconstruction({"weight": 100.0, "target": "image", "detach": detach}, PATCH)
    test_x, _ = toy_digits(100, seed=1)
    test_condition = cgan_center.centre(test_x, PATCH).flatten(1)
    z = torch.randn(100, MODEL["noise"])

    def checkpoint(epoch: int) -> dict:
        from dlrepro.train.gan import generate

        return {"centre_mse": cgan_center.centre_mse(generate(gen, z, test_condition), test_condition, PATCH)}

    return train_gan(gen, disc, x, condition, epochs=6, batch_size=32, lr=0.002, betas=(0.5, 0.999),
                     generator=torch.Generator().manual_seed(0), checkpoint=checkpoint, every=1, reconstruction=term)


def test_a_short_training_lowers_the_trained_term_and_the_flaw_leaves_it():
    trained, flawed = short_training(False), short_training(True)
    assert trained[-1]["g_reconstruction"] < 0.3 * trained[0]["g_reconstruction"], [r["g_reconstruction"] for r in trained]
    assert trained[-1]["centre_mse"] < 0.5 * flawed[-1]["centre_mse"], (trained[-1], flawed[-1])
    # the flawed run's printed loss carries the term, the gradient did not: its term stays larger
    assert flawed[-1]["g_reconstruction"] > 1.3 * trained[-1]["g_reconstruction"], (flawed[-1], trained[-1])
    assert flawed[-1]["g_loss"] == pytest.approx(flawed[-1]["g_adversarial"] + 100 * flawed[-1]["g_reconstruction"],
                                                 rel=1e-4)


def test_the_reconstruction_target_is_checked():
    with pytest.raises(ValueError, match="target"):
        cgan_center.reconstruction({"weight": 1.0, "target": "edges", "detach": False}, PATCH)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """Two variants (trained and detached, λ 100) through train and summarize on toy digits."""
    root = tmp_path_factory.mktemp("cgan_center")
    data, judge = toy_data_dir(root / "data"), judge_folder(root / "judge")
    base = {"data": {"val_size": 20, "split_seed": 0, "n_train": None}, "patch": PATCH, "model": MODEL,
            "train": {**TRAIN, "epochs": 4, "lr": 0.002, "mismatch": False}, "eval": {"samples": None, "noise_seed": 3}}
    variants = {"lambda_100": False, "detached_100": True}
    for name, detach in variants.items():
        folder = root / "variants" / name
        folder.mkdir(parents=True)
        values = {**base, "reconstruction": {"weight": 100.0, "target": "image", "detach": detach}}
        cgan_center.train(data, values, RUNTIME, folder / "runs", folder / "metrics.json", folder / "provenance.json",
                          f"cgan-center/{name}", judge)
    cgan_center.summarize(data, root / "variants", list(variants), {"variants": {}}, RUNTIME, root / "summary", judge)
    return root


def test_the_stages_measure_every_test_image_and_write_the_page_inputs(family):
    import pandas as pd

    provenance = json.loads((family / "variants" / "lambda_100" / "provenance.json").read_text())
    assert provenance["data"]["n_measured"] == 120 and provenance["checkpoints"] == [2, 4]
    for name in ("variants.json", "measures.csv", "flaw.csv", "completions.png", "draws.png", "curves.png",
                 "centre_mse.png", "judge_accuracy.png", "frechet.png"):
        assert (family / "summary" / name).is_file(), name
    measures = pd.read_csv(family / "summary" / "measures.csv").set_index("variant")
    assert list(measures.index) == ["lambda_100", "detached_100"]
    assert bool(measures.loc["detached_100", "detach"]) and not bool(measures.loc["lambda_100", "detach"])


def test_the_flaw_comparison_pairs_seeds_of_the_same_weight(family):
    import pandas as pd

    flaw = pd.read_csv(family / "summary" / "flaw.csv")
    assert len(flaw) == 1
    row = flaw.iloc[0]
    assert (row.trained, row.detached, row.seeds) == ("lambda_100", "detached_100", 2)
    assert row.difference == pytest.approx(row.detached_mean - row.trained_mean, rel=1e-4)
    # trained with λ = 100 on whole toy images, its centres are far closer to the patch
    assert row.difference > 0


def test_flaw_comparisons_from_results():
    def result(weight, detach, values):
        return {"params": {"reconstruction": {"weight": weight, "target": "image", "detach": detach}},
                "centre_mse": {"mean": sum(values) / len(values), "low": min(values), "high": max(values)},
                "per_seed": [{"seed": s, "centre_mse": v} for s, v in enumerate(values)]}

    rows = cgan_center.flaw_comparisons({"a": result(100, False, [0.01, 0.02, 0.015]),
                                         "b": result(10, False, [0.05, 0.06, 0.055]),
                                         "d": result(100, True, [0.20, 0.25, 0.22])})
    assert len(rows) == 1 and rows[0]["trained"] == "a" and rows[0]["detached"] == "d"
    assert rows[0]["difference"] == pytest.approx((0.19 + 0.23 + 0.205) / 3)
    assert rows[0]["trained_beats_detached"] and rows[0]["difference_low"] > 0
