"""GAIN and its baselines: masks, the paper's hint, what the losses count, the measure, the baselines."""

from __future__ import annotations

import torch

from dlrepro.experiments.gan_impute import (draw_masks, iterative_impute, knn_impute, mean_impute, missing_rmse,
                                            train_gain)
from dlrepro.models.gain import (Gain, adversarial_loss, code_hint, discriminator_loss, noise, observed_mse,
                                 paper_hint)

RANDOM = {"kind": "random", "missing_rate": 0.5, "block_size": 14, "seed": 0}
BLOCK = {**RANDOM, "kind": "block"}


def test_random_masks_have_the_requested_missing_rate_and_come_back_from_the_seed():
    for rate in (0.2, 0.5, 0.8):
        m = draw_masks(2000, {**RANDOM, "missing_rate": rate}, "train")
        assert m.shape == (2000, 784) and set(m.unique().tolist()) == {0.0, 1.0}
        assert abs(float(1 - m.mean()) - rate) < 0.003  # 1.57 M pixels: the sd of the rate is 0.0004
        per_image = 1 - m.mean(1)
        assert per_image.std() > 0.005  # independent per pixel, not a fixed count per image
    m = draw_masks(500, RANDOM, "test")
    assert torch.equal(m, draw_masks(500, RANDOM, "test"))
    assert not torch.equal(m, draw_masks(500, {**RANDOM, "seed": 1}, "test"))
    assert not torch.equal(m, draw_masks(500, RANDOM, "val"))  # each split its own stream


def test_block_masks_hide_one_square_of_the_requested_size_per_image():
    for size in (1, 7, 14, 28):
        m = draw_masks(300, {**BLOCK, "block_size": size}, "train").view(300, 28, 28)
        tops, lefts = set(), set()
        for image in m:
            rows, cols = torch.nonzero(image == 0, as_tuple=True)
            assert len(rows) == size * size
            assert rows.max() - rows.min() + 1 == size and cols.max() - cols.min() + 1 == size  # one square
            tops.add(int(rows.min()))
            lefts.add(int(cols.min()))
        assert tops <= set(range(29 - size)) and lefts <= set(range(29 - size))
        if size < 28:
            assert len(tops) > 1 and len(lefts) > 1  # the square moves from image to image
    m = draw_masks(100, BLOCK, "val")
    assert torch.equal(m, draw_masks(100, BLOCK, "val"))
    assert not torch.equal(m, draw_masks(100, {**BLOCK, "seed": 3}, "val"))


def test_the_paper_hint_hides_exactly_one_entry_per_row_and_shows_m_elsewhere():
    g = torch.Generator().manual_seed(0)
    m = (torch.rand(4000, 50, generator=g) > 0.5).float()
    b, h = paper_hint(m, torch.Generator().manual_seed(1))
    assert ((b == 0).sum(1) == 1).all()
    assert ((h == 0.5).sum(1) == 1).all()
    assert torch.equal(h == 0.5, b == 0)
    assert torch.equal(h[b == 1], m[b == 1])
    counts = torch.bincount((b == 0).float().argmax(1), minlength=50)  # k uniform over the entries
    assert counts.min() > 40 and counts.max() < 125  # 80 expected per entry


def test_the_code_hint_reveals_observed_entries_at_the_hint_rate():
    m = (torch.rand(2000, 100, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    b, h = code_hint(m, 0.9, torch.Generator().manual_seed(1))
    assert torch.equal(h, b * m) and set(h.unique().tolist()) == {0.0, 1.0}
    assert abs(float(b.mean()) - 0.9) < 0.01


def test_imputation_keeps_observed_entries_exactly():
    g = torch.Generator().manual_seed(0)
    model = Gain(20, [16, 16])
    x = torch.rand(64, 20, generator=g)
    m = (torch.rand(64, 20, generator=g) > 0.5).float()
    z = noise((64, 20), 0.01, g, torch.device("cpu"))
    imputed = model.impute(x, m, z)
    assert torch.equal(imputed[m == 1], x[m == 1])
    proposal = model.propose(x, m, z)
    assert torch.equal(imputed[m == 0], proposal[m == 0])
    assert not torch.equal(imputed[m == 0], x[m == 0])
    # the generator sees no missing value: changing x where m = 0 changes nothing
    other = torch.where(m.bool(), x, torch.rand(64, 20, generator=g))
    assert torch.equal(model.impute(other, m, z)[m == 1], x[m == 1])
    assert torch.equal(model.propose(other, m, z), proposal)


def test_the_paper_losses_count_only_each_rows_hidden_entry():
    g = torch.Generator().manual_seed(0)
    m = (torch.rand(32, 30, generator=g) > 0.5).float()
    b, _ = paper_hint(m, g)
    logits = torch.randn(32, 30, generator=g)
    changed = torch.where(b == 1, torch.randn(32, 30, generator=g), logits)  # only shown entries differ
    assert discriminator_loss(changed, m, b, "paper") == discriminator_loss(logits, m, b, "paper")
    assert adversarial_loss(changed, m, b, "paper") == adversarial_loss(logits, m, b, "paper")
    k = (b == 0).float().argmax(1)
    rows = torch.arange(32)
    lk, mk = logits[rows, k], m[rows, k]
    expected_d = -(mk * torch.log(torch.sigmoid(lk)) + (1 - mk) * torch.log(1 - torch.sigmoid(lk))).mean()
    expected_g = -((1 - mk) * torch.log(torch.sigmoid(lk))).mean()
    assert torch.allclose(discriminator_loss(logits, m, b, "paper"), expected_d, atol=1e-6)
    assert torch.allclose(adversarial_loss(logits, m, b, "paper"), expected_g, atol=1e-6)
    # the code's losses read every entry
    assert discriminator_loss(changed, m, b, "code") != discriminator_loss(logits, m, b, "code")
    # the reconstruction term reads observed entries only
    x = torch.rand(32, 30, generator=g)
    proposal = torch.rand(32, 30, generator=g)
    assert observed_mse(x, torch.where(m.bool(), proposal, 5.0), m) == observed_mse(x, proposal, m)


def test_rmse_counts_only_missing_entries():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(100, 40, generator=g)
    m = (torch.rand(100, 40, generator=g) > 0.3).float()
    imputed = torch.where(m.bool(), x + 0.7, x + 0.25)  # wrong by 0.7 where observed, 0.25 where missing
    assert abs(missing_rmse(x, imputed, m) - 0.25) < 1e-6
    errors = torch.where(m.bool(), 0.0, torch.randn(100, 40, generator=g))
    expected = float(errors[m == 0].pow(2).mean().sqrt())
    assert abs(missing_rmse(x, x + errors, m) - expected) < 1e-6


def test_each_baseline_leaves_observed_pixels_untouched():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 36, generator=g)
    fit_x = (base + 0.1 * torch.randn(200, 36, generator=g)).clamp(0, 1)
    x = (base + 0.1 * torch.randn(30, 36, generator=g)).clamp(0, 1)
    fit_m = (torch.rand(200, 36, generator=g) > 0.5).float()
    m = (torch.rand(30, 36, generator=g) > 0.5).float()
    fit_m[:, 0] = 0  # a pixel never observed in training
    outputs = {"mean": mean_impute(fit_x, fit_m, x, m), "knn": knn_impute(fit_x, fit_m, x, m, 5),
               "iterative": iterative_impute(fit_x, fit_m, x, m, nearest=5, rounds=2, seed=0)}
    for name, out in outputs.items():
        assert out.shape == x.shape, name
        assert torch.equal(out[m == 1], x[m == 1]), name
        assert torch.isfinite(out).all() and (out[m == 0] >= 0).all() and (out[m == 0] <= 1).all(), name
        assert missing_rmse(x, out, m) < missing_rmse(x, torch.zeros_like(x), m), name  # better than zeros
    means = (fit_x * fit_m).sum(0)[1:] / fit_m.sum(0)[1:]
    filled = outputs["mean"]
    missing = m[:, 1:] == 0
    assert torch.allclose(filled[:, 1:][missing], means.expand(30, -1)[missing])


def test_gain_training_is_seeded_and_lowers_the_missing_rmse():
    g = torch.Generator().manual_seed(0)
    # digits-like data: each row one of 4 smooth patterns with noise
    patterns = torch.rand(4, 784, generator=g).view(4, 1, 28, 28)
    patterns = torch.nn.functional.avg_pool2d(patterns, 5, 1, 2).view(4, 784)
    labels = torch.randint(4, (400,), generator=g)
    data = (patterns[labels] + 0.02 * torch.randn(400, 784, generator=g)).clamp(0, 1)
    m = draw_masks(400, RANDOM, "train")
    x_in = torch.where(m.bool(), data, 0.0)
    values = {"gain": {"hint": "paper", "hint_rate": 0.9, "alpha": 10, "noise": 0.01}, "model": {"hidden": [64]},
              "train": {"lr": 0.003, "batch_size": 32, "epochs": 3}}
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # the initial weights (run_seeds seeds torch before every seed)
        runs.append(train_gain(x_in[:300], m[:300], data[300:], m[300:], values, 0, torch.Generator().manual_seed(0),
                               "t")[1])
    assert runs[0] == runs[1]
    assert list(runs[0][0]) == ["epoch", "d_loss", "g_adversarial", "g_observed_mse", "val_rmse"]
    assert runs[0][-1]["val_rmse"] < runs[0][0]["val_rmse"]
