"""cgan-label: the label reaches both networks, a toy cGAN learns its classes, one history row per
checkpoint, and the family's train and summarize stages on toy digits."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from dlrepro.experiments import cgan_label
from dlrepro.models import gan
from dlrepro.train.gan import checkpoint_epochs, generate, train_gan
from tests.unit.gan_helpers import one_thread  # noqa: F401  (the fixture every test here uses)
from tests.unit.gan_helpers import MODEL, RUNTIME, TRAIN, judge_folder, templates, toy_data_dir, toy_digits

pytestmark = pytest.mark.usefixtures("one_thread")


def test_one_hot_puts_label_k_at_position_k():
    out = gan.one_hot(torch.tensor([3, 0, 9]))
    assert out.shape == (3, 10) and out.dtype == torch.float32
    assert out.argmax(1).tolist() == [3, 0, 9] and out.sum(1).tolist() == [1, 1, 1]


def test_the_one_hot_label_is_routed_into_both_networks():
    """Zero the first layer's label columns but label 3's: only label 3 then changes the output,
    in the generator and in the discriminator; with all of them zero, no label does."""
    torch.manual_seed(0)
    gen, disc = gan.build({**MODEL, "batchnorm": False}, 10)
    gen.eval(), disc.eval()
    z = torch.randn(1, MODEL["noise"]).expand(10, -1)
    image = torch.rand(1, 1, 28, 28).expand(10, -1, -1, -1)
    labels = gan.one_hot(torch.arange(10))
    for net, first, own in ((gen, gen.net[0], MODEL["noise"]), (disc, disc.net[0], 784)):
        with torch.no_grad():
            first.weight[:, own:] = 0
            first.weight[:, own + 3] = 1.0
        out = net(z, labels) if net is gen else net(image, labels)
        out = out.flatten(1) if out.ndim > 1 else out[:, None]
        others = out[torch.arange(10) != 3]
        assert torch.allclose(others, others[:1].expand_as(others), atol=1e-6)  # labels but 3: all the same
        assert (out[3] - out[0]).abs().max() > 1e-3                              # label 3 differs
        with torch.no_grad():
            first.weight[:, own + 3] = 0
        out = net(z, labels) if net is gen else net(image, labels)
        assert torch.allclose(out, out[:1].expand_as(out), atol=1e-6)


def test_wrong_labels_are_always_another_class_and_cover_the_others():
    torch.manual_seed(0)
    labels = torch.arange(2000) % 10
    wrong = cgan_label.wrong_labels(gan.one_hot(labels)).argmax(1)
    assert (wrong != labels).all()
    assert all(set(wrong[labels == c].tolist()) == set(range(10)) - {c} for c in range(10))


def test_the_matching_aware_discriminator_learns_mismatched_real_pairs_as_fake():
    """Its loss: BCE(real, 1) + the mean BCE of generated and mismatched pairs against 0."""
    import torch.nn.functional as F

    from dlrepro.train.gan import discriminator_loss

    torch.manual_seed(0)
    _, disc = gan.build(MODEL, 10)
    disc.eval()
    real, fake = torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)
    right = gan.one_hot(torch.arange(8) % 10)
    wrong = cgan_label.wrong_labels(right)
    loss, _, _ = discriminator_loss(disc, real, fake, right, wrong)
    bce = F.binary_cross_entropy_with_logits
    expected = (bce(disc(real, right), torch.ones(8))
                + (bce(disc(fake, right), torch.zeros(8)) + bce(disc(real, wrong), torch.zeros(8))) / 2)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    plain, _, _ = discriminator_loss(disc, real, fake, right)
    assert plain.item() == pytest.approx((bce(disc(real, right), torch.ones(8))
                                          + bce(disc(fake, right), torch.zeros(8))).item(), rel=1e-5)


def test_a_short_training_on_toy_classes_learns_to_draw_the_requested_class():
    """Ten fixed patterns, one per class: after a short training the generator's digit for label k
    is nearest to pattern k far more often than chance (before: no better than chance)."""
    torch.manual_seed(0)
    x, y = toy_digits(400)
    gen, disc = gan.build({**MODEL, "generator": [64], "discriminator": [64], "condition_scale": 10.0}, 10)
    labels = torch.arange(200) % 10
    z = torch.randn(200, MODEL["noise"])

    def nearest_is_requested() -> float:
        images = generate(gen, z, gan.one_hot(labels)).flatten(1)
        nearest = torch.cdist(images, templates().flatten(1)).argmin(1)
        return (nearest == labels).float().mean().item()

    before = nearest_is_requested()
    history = train_gan(gen, disc, x, gan.one_hot(y), epochs=25, batch_size=32, lr=0.002, betas=(0.5, 0.999),
                        generator=torch.Generator().manual_seed(0), checkpoint=lambda e: {"hit": nearest_is_requested()},
                        every=5)
    after = history[-1]["hit"]
    assert before < 0.35 and after > 0.8, (before, [r["hit"] for r in history])


def test_the_history_has_a_row_per_epoch_and_measures_exactly_at_checkpoints():
    assert checkpoint_epochs(5, 2) == [2, 4, 5] and checkpoint_epochs(4, 1) == [1, 2, 3, 4]
    torch.manual_seed(0)
    x, y = toy_digits(64)
    gen, disc = gan.build(MODEL, 10)
    called = []
    history = train_gan(gen, disc, x, gan.one_hot(y), epochs=5, batch_size=32, lr=0.001, betas=(0.5, 0.999),
                        generator=torch.Generator().manual_seed(0), every=2,
                        checkpoint=lambda e: called.append(e) or {"measure": float(e)})
    assert called == [2, 4, 5]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert [r["measure"] for r in history] == [None, 2.0, None, 4.0, 5.0]
    assert all(list(r) == list(history[0]) for r in history)  # the same columns in every row


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The family's train and summarize stages on toy digits with an untrained judge."""
    root = tmp_path_factory.mktemp("cgan_label")
    data, judge = toy_data_dir(root / "data"), judge_folder(root / "judge")
    values = {"data": {"val_size": 20, "split_seed": 0, "n_train": None}, "model": MODEL, "train": TRAIN,
              "eval": {"samples": 10, "noise_seed": 3}}
    variant = root / "variants" / "default"
    variant.mkdir(parents=True)
    metrics = cgan_label.train(data, values, RUNTIME, variant / "runs", variant / "metrics.json",
                               variant / "provenance.json", "cgan-label/default", judge)
    cgan_label.summarize(data, root / "variants", ["default"], {"variants": {"default": {}}}, RUNTIME, root / "summary",
                         judge)
    return root, metrics


def test_the_stage_writes_one_checkpoint_row_per_checkpoint_and_the_last_as_the_metrics(trained):
    root, metrics = trained
    runs = root / "variants" / "default" / "runs"
    for seed in TRAIN["seeds"]:
        with open(runs / f"seed{seed}" / "history.csv") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
        measured = [int(r["epoch"]) for r in rows if r["judge_accuracy"] != ""]
        assert measured == checkpoint_epochs(TRAIN["epochs"], TRAIN["checkpoint_every"])
        run = json.loads((runs / f"seed{seed}" / "metrics.json").read_text())
        assert run["judge_accuracy"] == pytest.approx(float(rows[-1]["judge_accuracy"]), abs=1e-5)
        assert run["frechet"] == pytest.approx(float(rows[-1]["frechet"]), rel=1e-5)
    assert metrics["judge_accuracy"]["n"] == len(TRAIN["seeds"])
    provenance = json.loads((root / "variants" / "default" / "provenance.json").read_text())
    # 60 reference digits (half the 120 test digits): as many generated, class-balanced
    assert provenance["real"]["half_size"] == 60 and provenance["data"]["n_generated"] == 60


def test_the_summary_holds_the_page_inputs(trained):
    root, _ = trained
    summary = root / "summary"
    for name in ("variants.json", "samples_default.png", "progress_default.png", "curves_default.png",
                 "histories.csv"):
        assert (summary / name).is_file(), name
    with open(summary / "histories.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == TRAIN["epochs"] * len(TRAIN["seeds"])
