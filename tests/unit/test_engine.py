import pytest
import torch

from dlrepro.models.mlp import MLP
from dlrepro.train.engine import Split, configure, evaluate, fit, seed_everything
from dlrepro.train.stats import T975, mean_ci95, t975


def blobs(n=600, seed=0):
    """Three well separated Gaussian classes in 20 dimensions."""
    centres = torch.randn(3, 20, generator=torch.Generator().manual_seed(0)) * 2
    y = torch.arange(n) % 3
    noise = torch.randn(n, 20, generator=torch.Generator().manual_seed(100 + seed))
    return Split(centres[y] + noise, y)


def run(seed, epochs=5, lr_schedule="cosine"):
    configure()
    gen = seed_everything(seed)
    model = MLP(20, [32, 32], 3)
    result = fit(model, blobs(), blobs(seed=1), epochs=epochs, batch_size=64, optimizer="adam", lr=1e-2,
                 lr_schedule=lr_schedule, generator=gen)
    return model, result


def test_fit_learns_and_keeps_best_validation_epoch():
    model, result = run(0)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    best = max(result.history, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert result.best_epoch == best["epoch"]
    model.load_state_dict(result.best_state)
    assert evaluate(model, blobs(seed=1))["accuracy"] == best["val_accuracy"] > 0.9


def test_best_by_loss_keeps_the_lowest_validation_loss_where_accuracy_would_keep_another_epoch():
    """30 validation points of overlapping classes: accuracy moves in steps of 1/30, and its best
    epoch (4 here) is not the lowest-loss one (3)."""
    centres = torch.randn(3, 20, generator=torch.Generator().manual_seed(0)) * 0.4

    def close(n, seed):
        y = torch.arange(n) % 3
        return Split(centres[y] + torch.randn(n, 20, generator=torch.Generator().manual_seed(100 + seed)), y)

    kept = {}
    for best_by in ("accuracy", "loss"):
        configure()
        generator = seed_everything(2)
        model = MLP(20, [32, 32], 3)
        result = fit(model, close(600, 0), close(30, 1), epochs=12, batch_size=64, optimizer="adam", lr=1e-2,
                     lr_schedule="cosine", generator=generator, best_by=best_by)
        kept[best_by] = result.best_epoch
        model.load_state_dict(result.best_state)
        assert evaluate(model, close(30, 1))["loss"] == pytest.approx(result.history[result.best_epoch - 1]["val_loss"])
    losses = [r["val_loss"] for r in result.history]
    assert kept["loss"] == 1 + losses.index(min(losses)) != kept["accuracy"]
    with pytest.raises(ValueError, match="best_by"):
        fit(MLP(20, [4], 3), close(30, 0), close(30, 1), epochs=1, batch_size=8, optimizer="adam", lr=1e-2,
            lr_schedule="cosine", generator=seed_everything(0), best_by="auc")


def test_same_seed_same_numbers_different_seed_different_numbers():
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]
    _, a = run(3)
    _, b = run(3)
    _, c = run(4)
    assert strip(a.history) == strip(b.history)
    assert strip(a.history) != strip(c.history)


def test_cosine_schedule_decays_to_zero_and_constant_does_not():
    _, cos = run(0, epochs=4)
    _, const = run(0, epochs=4, lr_schedule="constant")
    assert cos.history[0]["lr"] == const.history[-1]["lr"] == 1e-2
    assert cos.history[-1]["lr"] < 0.2e-2


def test_he_init_scales_with_fan_in():
    torch.manual_seed(0)
    model = MLP(784, [1024, 1024], 10, init="he")
    std = model.hidden[1].weight.std().item()
    assert abs(std - (2 / 1024) ** 0.5) < 0.002
    assert abs(model.hidden[0].bias.std().item() - (2 / 784) ** 0.5) < 0.01


def test_t_quantiles_match_scipy():
    from scipy.special import stdtrit

    for df in [*T975, 11, 40]:
        assert t975(df) == pytest.approx(float(stdtrit(df, 0.975)), rel=1e-12)


def test_mean_ci95():
    s = mean_ci95([0.97, 0.98, 0.99])
    assert abs(s["mean"] - 0.98) < 1e-12 and s["n"] == 3
    # t(0.975, 2) = 4.303; std = 0.01; half-width = 4.303 * 0.01 / sqrt(3)
    assert abs((s["high"] - s["low"]) / 2 - 4.3027 * 0.01 / 3 ** 0.5) < 1e-4
    assert mean_ci95([0.5])["low"] is None
    assert mean_ci95([0.95, 0.99, 1.0], bounds=(0, 1))["high"] == 1
