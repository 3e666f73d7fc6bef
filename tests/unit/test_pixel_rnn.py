"""pixel-rnn: patches, autoregressive completion, the nearest-neighbour baseline, the judge's bookkeeping."""

from __future__ import annotations

import pytest
import torch

from dlrepro.experiments import pixel_rnn as P
from dlrepro.models.pixel_rnn import FreeRunning, PatchLSTM, from_patches, to_patches
from dlrepro.train.engine import Split
from dlrepro.train.stats import mean_ci95


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_patches_are_7x7_in_raster_order_and_round_trip():
    x = images(3)
    patches = to_patches(x)
    assert patches.shape == (3, 16, 49)
    assert torch.equal(patches[:, 0], x[:, 0, :7, :7].reshape(3, 49))
    assert torch.equal(patches[:, 1], x[:, 0, :7, 7:14].reshape(3, 49))   # left to right first
    assert torch.equal(patches[:, 4], x[:, 0, 7:14, :7].reshape(3, 49))   # then the next row of patches
    assert torch.equal(patches[:, 15], x[:, 0, 21:, 21:].reshape(3, 49))
    assert torch.equal(from_patches(patches), x)
    assert torch.equal(to_patches(from_patches(patches)), patches)
    assert torch.equal(from_patches(to_patches(x, 14), 14), x)


def test_patches_reject_sizes_that_do_not_divide():
    with pytest.raises(ValueError, match="5x5"):
        to_patches(images(1), 5)
    with pytest.raises(ValueError, match="expected"):
        from_patches(torch.zeros(2, 15, 49))


def small_model(seed: int = 0) -> PatchLSTM:
    torch.manual_seed(seed)
    return PatchLSTM([8, 16, 8]).eval()


def test_completion_keeps_the_top_half_and_reads_nothing_below_it():
    model, x = small_model(), images(5)
    completed = P.complete_images(model, x)
    assert completed.shape == x.shape
    assert torch.equal(completed[..., :14, :], x[..., :14, :])
    assert not torch.allclose(completed[..., 14:, :], x[..., 14:, :])
    assert completed.min() >= 0 and completed.max() <= 1
    other_bottom = x.clone()
    other_bottom[..., 14:, :] = images(5, seed=1)[..., 14:, :]
    assert torch.equal(P.complete_images(model, other_bottom), completed)   # causal
    other_top = x.clone()
    other_top[..., :7, :] = 1 - other_top[..., :7, :]
    assert not torch.allclose(P.complete_images(model, other_top)[..., 14:, :], completed[..., 14:, :])


def test_completion_is_the_teacher_forced_model_fed_its_own_predictions():
    model, x = small_model(1), images(4)
    completed = to_patches(P.complete_images(model, x))
    with torch.no_grad():
        # the first generated patch is the teacher-forced prediction from the true top half
        assert torch.allclose(completed[:, 8], torch.sigmoid(model(to_patches(x)))[:, 7], atol=1e-6)
        # and every later one is the teacher-forced prediction when the inputs are the completion itself
        assert torch.allclose(completed[:, 9:], torch.sigmoid(model(completed))[:, 8:], atol=1e-5)
    # vectorised over the batch: the same as completing each image alone, in any batch size
    alone = torch.cat([P.complete_images(model, x[i:i + 1]) for i in range(len(x))])
    assert torch.allclose(P.complete_images(model, x, batch=3), alone, atol=1e-6)


def test_nearest_neighbour_is_the_training_image_with_the_closest_top_half():
    train, queries = images(40, seed=2), images(9, seed=3)
    queries[4] = train[17] * 0.98   # one query almost equal to a training image
    def top_distance(q, j):
        return float(((q[..., :14, :] - train[j][..., :14, :]) ** 2).sum())

    brute = torch.tensor([min(range(len(train)), key=lambda j: top_distance(q, j)) for q in queries])
    found = P.nearest_by_top(train, queries, chunk=4)
    assert torch.equal(found, brute)
    assert found[4] == 17
    scrambled = train.clone()
    scrambled[..., 14:, :] = torch.rand(40, 1, 14, 28)   # bottom halves play no part
    assert torch.equal(P.nearest_by_top(scrambled, queries, chunk=100), brute)
    completed = P.with_bottom(queries, train[found])
    assert torch.equal(completed[..., :14, :], queries[..., :14, :])
    assert torch.equal(completed[..., 14:, :], train[found][..., 14:, :])


class BottomReader:
    """A toy judge: reads a digit from the mean intensity of the bottom half (label k: k / 10 + 0.05)."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return (x[..., 14:, :].flatten(1).mean(1) * 10).floor().long().clamp(0, 9)


def test_judge_accuracy_of_completions_on_a_toy_judge():
    labels = torch.arange(10).repeat(3)                                     # 30 digits, 3 per class
    true = torch.zeros(30, 1, 28, 28) + (labels.float() / 10 + 0.05)[:, None, None, None]
    true[..., :14, :] = torch.rand(30, 1, 14, 28)                           # tops carry no label
    flat = torch.full((1, 1, 28, 28), 0.43)                                 # reads as 4
    sets = {"true": true, "mean": P.with_bottom(true, flat),
            "zeroed": P.with_bottom(true, torch.zeros_like(true[:1]))}
    correct = P.judge_correct(BottomReader(), sets, labels)
    assert correct["true"].all()
    assert torch.equal(correct["mean"], labels == 4)
    assert torch.equal(correct["zeroed"], labels == 0)
    acc = mean_ci95(correct["mean"].double().numpy(), (0, 1))
    assert acc["mean"] == pytest.approx(0.1) and acc["n"] == 30
    assert 0 <= acc["low"] < 0.1 < acc["high"] <= 1
    assert mean_ci95(correct["true"].double().numpy(), (0, 1))["low"] == 1.0     # no spread, clipped to [0, 1]
    assert P.per_class(correct["mean"], labels) == [float(c == 4) for c in range(10)]
    mse = P.bottom_mse(sets["zeroed"], true)
    assert torch.allclose(mse, (labels.float() / 10 + 0.05) ** 2)


def test_teacher_forced_mse_averages_the_predicted_patches():
    model, x = small_model(2), images(6)
    every, bottom = P.teacher_forced_mse(model, x, batch=4)
    with torch.no_grad():
        err = ((torch.sigmoid(model(to_patches(x))) - to_patches(x)[:, 1:]) ** 2).mean((0, 2))
    assert every == pytest.approx(err.mean().item(), rel=1e-5)
    assert bottom == pytest.approx(err[7:].mean().item(), rel=1e-5)   # patches 9 to 16


@pytest.mark.parametrize("name", ["mse", "bce"])
def test_losses_are_smallest_at_the_target(name):
    patches = to_patches(images(2)).clamp(0.01, 0.99)
    loss = P.loss_function(name)
    exact = torch.logit(patches[:, 1:])
    assert loss(exact, patches, None) < loss(exact + 0.5, patches, None)
    with pytest.raises(ValueError, match="unknown loss"):
        P.loss_function("l1")


def test_the_model_standardises_its_inputs_and_starts_from_the_mean_pixel():
    torch.manual_seed(0)
    plain = PatchLSTM([8, 16, 8]).eval()
    scaled = PatchLSTM([8, 16, 8], mean=0.2, std=0.3).eval()
    assert torch.allclose(scaled.out.bias, torch.full((49,), torch.logit(torch.tensor(0.2)).item()))
    scaled.load_state_dict({**plain.state_dict(), "in_mean": torch.tensor(0.2), "in_std": torch.tensor(0.3)})
    patches = to_patches(images(2))
    with torch.no_grad():
        assert torch.allclose(scaled(patches), plain((patches - 0.2) / 0.3), atol=1e-6)


def test_free_running_training_sees_what_completion_sees():
    model, x = small_model(3), images(4)
    patches = to_patches(x)
    free = FreeRunning(model, 8)
    logits = free(patches)
    assert logits.shape == (4, 15, 49)
    with torch.no_grad():
        completed = to_patches(P.complete_images(model, x))
        # its predictions of the bottom patches are the completion's, the top half's the teacher-forced ones
        assert torch.allclose(torch.sigmoid(logits[:, 7:]), completed[:, 8:], atol=1e-6)
        assert torch.allclose(logits[:, :7], model(patches)[:, :7], atol=1e-6)
        scrambled = patches.clone()
        scrambled[:, 8:] = torch.rand(4, 8, 49)
        assert torch.equal(free(scrambled), logits)   # the true bottom half is never read
    # the gradient flows through the fed-back predictions: under teacher forcing the last patch's
    # logit depends on the output bias only directly (d logit_j / d bias = e_j), fed back it does not
    for net, direct in ((free, False), (model, True)):
        model.zero_grad()
        net(patches)[:, -1, 0].sum().backward()
        assert torch.equal(model.out.bias.grad == 0, torch.arange(49) != 0) is direct
    with pytest.raises(ValueError, match="given"):
        model(patches, 16)


class StubJudge:
    """What top_half_reader reads of a Judge: how it was trained (a small CNN here) and its seed."""
    seed = 0
    params = {"model": {"kind": "simple", "convs": [[4, 5]], "dense": [16]},
              "train": {"optimizer": "adam", "lr": 0.01, "lr_schedule": "constant", "batch_size": 32, "epochs": 6}}


@pytest.mark.parametrize("half", ["top", "bottom"])
def test_the_top_half_reader_learns_from_the_top_half_only(half):
    labels = torch.arange(2).repeat(150)                   # two classes: a bright or a dark stripe
    x = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(4)) * 0.3
    rows = slice(3, 8) if half == "top" else slice(20, 25)
    x[labels == 1, :, rows, :] += 0.7
    train, val = Split(x[:200], labels[:200]), Split(x[200:250], labels[200:250])
    predicted = P.top_half_reader(StubJudge(), train, val, x[250:], "test")
    accuracy = (predicted == labels[250:]).double().mean().item()
    if half == "top":
        assert accuracy == 1.0
    else:
        assert accuracy < 0.8   # the stripe is in the zeroed half: nothing to read but noise
