"""Batched augmentation, the CNNs, step-limited training and the transfer experiment's plumbing."""

import json

import numpy as np
import pytest
import torch

from dlrepro.experiments import cifar_transfer
from dlrepro.train import classify
from dlrepro.io import save_arrays
from dlrepro.models import cnn
from dlrepro.train.augment import Augmented, augment, augmented, brightness, hflip, random_crop
from dlrepro.train.engine import Split, configure, fit, seed_everything

SETTINGS = {"brightness": 0.1, "crop_pad": 4}
ALL = ["brightness", "hflip", "crop"]


def images(n=16, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("ops", [["brightness"], ["hflip"], ["crop"], ALL])
def test_augmentations_keep_shape_and_range_and_are_deterministic_under_a_seed(ops):
    x = images()
    a = augment(x, ops, torch.Generator().manual_seed(1), SETTINGS)
    b = augment(x, ops, torch.Generator().manual_seed(1), SETTINGS)
    c = augment(x, ops, torch.Generator().manual_seed(2), SETTINGS)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("ops", [["brightness"], ["hflip"], ["crop"], ALL])
def test_augmented_image_i_comes_from_image_i_so_labels_stay_aligned(ops):
    # Image i is a constant whose intensity is 1.23^i times the first one's: the brightness band
    # [0.9, 1.1] of one image never reaches another's, so each output can only come from its input.
    levels = 0.05 * 1.23 ** torch.arange(12, dtype=torch.float32) * 2 - 1
    x = levels.view(-1, 1, 1, 1).expand(12, 3, 32, 32).clone()
    out = augment(x, ops, torch.Generator().manual_seed(0), SETTINGS)
    values = out[:, 0, 0, 0]
    assert torch.equal(out, values.view(-1, 1, 1, 1).expand_as(out))  # still constant: nothing mixed in
    factor = (values + 1) / (levels + 1)
    assert torch.all((factor >= 0.9 - 1e-6) & (factor <= 1.1 + 1e-6))


def test_hflip_mirrors_about_half_of_the_images_and_nothing_else():
    x = images(200)
    out = hflip(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert torch.all(flipped ^ kept) and 70 < flipped.sum() < 130


def test_random_crop_cuts_a_window_of_the_padded_image():
    x = images(50)
    out = random_crop(x, torch.Generator().manual_seed(0), pad=4)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="reflect")
    offsets = set()
    for o, p in zip(out, padded):
        hits = [(dy, dx) for dy in range(9) for dx in range(9) if torch.equal(o, p[:, dy:dy + 32, dx:dx + 32])]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) > 10


def test_brightness_scales_intensities_within_the_bounds():
    x = torch.zeros(100, 3, 4, 4)  # intensity 0.5 in [0, 1] terms
    out = brightness(x, torch.Generator().manual_seed(0), 0.1)
    factor = (out[:, 0, 0, 0] + 1) / 1.0
    assert factor.min() >= 0.9 and factor.max() <= 1.1 and factor.std() > 0.03


def test_augmented_model_augments_in_training_only():
    net = torch.nn.Flatten()
    model = Augmented(net, ["hflip"], SETTINGS, torch.Generator().manual_seed(0))
    x = images(64)
    model.eval()
    assert torch.equal(model(x), x.flatten(1))
    model.train()
    assert not torch.equal(model(x), x.flatten(1))


def test_augmented_wraps_only_when_ops_are_named_and_draws_per_seed():
    net = torch.nn.Conv2d(3, 3, 1)
    assert augmented(net, {}, 0) is net
    assert augmented(net, {"ops": [], **SETTINGS}, 0) is net
    x = images(64)
    outputs = {}
    for seed in (0, 0, 1):
        model = augmented(net, {"ops": ["crop"], **SETTINGS}, seed)
        assert isinstance(model, Augmented) and model.model is net
        torch.manual_seed(123)  # the global stream (batch order elsewhere) must not matter
        outputs.setdefault(seed, []).append(model.train()(x))
    assert torch.equal(*outputs[0]) and not torch.equal(outputs[0][0], outputs[1][0])


def test_reference_cnns_have_the_write_ups_sizes():
    small = cnn.build({"kind": "simple", "convs": [[10, 5], [10, 5]], "dense": [20]}, 3, 32, 10)
    assert cnn.n_parameters(small) == 8500  # "8.5k-parameter CNN"
    fmnist = cnn.build({"kind": "simple", "convs": [[28, 3], [56, 3]], "dense": [100]}, 1, 28, 10)
    assert fmnist(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert fmnist.trunk[-2].in_features == 56 * 5 * 5
    strong = cnn.build({"kind": "strong", "widths": [8, 16], "depth": 2}, 3, 32, 3)
    assert strong.features == 16 and strong(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_max_steps_stops_training_after_that_many_steps():
    configure(1)
    x, y = torch.randn(50, 4), torch.arange(50) % 2
    model = torch.nn.Linear(4, 2)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(len(i[0])) if m.training else None)
    result = fit(model, Split(x, y), Split(x, y), epochs=100, batch_size=16, optimizer="sgd", lr=0.1,
                 lr_schedule="cosine", generator=seed_everything(0), max_steps=6)
    assert len(calls) == 6 and len(result.history) == 2  # 4 steps per epoch: one full epoch, one partial
    assert sum(calls) == 50 + 16 + 16


def test_mlp_initialisers_follow_the_params():
    model = classify.build_model({"kind": "mlp", "hidden": [300], "activation": "tanh", "init": "uniform",
                                  "init_scale": 0.1}, (1, 28, 28))
    w = model.hidden[0].weight
    assert w.abs().max() <= 0.1 and w.abs().max() > 0.09 and model.hidden[0].bias.abs().sum() == 0
    model = classify.build_model({"kind": "mlp", "hidden": [300], "activation": "relu", "init": "normal",
                                  "init_scale": 0.2}, (1, 28, 28))
    assert abs(model.hidden[0].weight.std().item() - 0.2) < 0.005


def tiny_cifar(folder, n_train=120, n_test=40):
    rng = np.random.default_rng(0)
    arrays = {"train_x": rng.integers(0, 256, (n_train, 3, 32, 32), dtype=np.uint8),
              "train_y": (np.arange(n_train) % 10).astype(np.uint8),
              "test_x": rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8),
              "test_y": (np.arange(n_test) % 10).astype(np.uint8)}
    save_arrays(folder, arrays, {"dataset": "cifar10", "source": "embedded"})
    return folder


def transfer_values(init="scratch", scale=1.0):
    train = {"optimizer": "adam", "lr": 0.01, "lr_schedule": "constant", "batch_size": 16, "steps": None,
             "epochs": 2, "seeds": [0]}
    return {"data": {"val_size": 20, "split_seed": 0, "n_train": 30},
            "model": {"kind": "strong", "convs": [[4, 3]], "dense": [8], "widths": [4, 8], "depth": 1},
            "pretext": {"n_images": None, "val_size": 10, "train": train},
            "finetune": {"init": init, "trunk_lr_scale": scale}, "train": train}


def test_pretext_views_label_the_three_transformations():
    x = images(4)
    views = cifar_transfer.pretext_views(x)
    assert views.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert torch.equal(views.x[4], x[0].flip(-2)) and torch.equal(views.x[8], torch.rot90(x[0], 1, (-2, -1)))


def test_frozen_fine_tuning_keeps_the_pretext_trunk_weights(tmp_path):
    data = tiny_cifar(tmp_path / "data")
    runtime = {"threads": 1, "device": "cpu"}
    pre = tmp_path / "pretext"
    cifar_transfer.pretrain(data, transfer_values(), runtime, pre / "runs", pre / "metrics.json",
                            pre / "provenance.json", "pretext")
    # Pretext images: the unlabelled pool (120 - 20 validation - 30 labelled) three ways, 10 held out.
    described = json.loads((pre / "provenance.json").read_text())
    assert described["data"]["n_train"] == (70 - 10) * 3 and described["data"]["n_val"] == 30
    trunk = torch.load(pre / "runs" / "seed0" / "trunk.pt", weights_only=True)
    out = tmp_path / "frozen"
    cifar_transfer.train(data, transfer_values("pretext", 0.0), runtime, out / "runs", out / "metrics.json",
                         out / "provenance.json", "frozen", upstream=pre)
    tuned = torch.load(out / "runs" / "seed0" / "model.pt", weights_only=True)
    convs = [k for k in trunk if k.endswith("weight") and trunk[k].ndim == 4]
    assert convs and all(torch.equal(tuned[f"trunk.{k}"], trunk[k]) for k in convs)
    out2 = tmp_path / "tuned"
    cifar_transfer.train(data, transfer_values("pretext", 1.0), runtime, out2 / "runs", out2 / "metrics.json",
                         out2 / "provenance.json", "tuned", upstream=pre)
    moved = torch.load(out2 / "runs" / "seed0" / "model.pt", weights_only=True)
    assert not all(torch.equal(moved[f"trunk.{k}"], trunk[k]) for k in convs)
    assert json.loads((out2 / "provenance.json").read_text())["data"]["n_train"] == 30


def test_fine_tuning_without_a_pretext_trunk_is_refused(tmp_path):
    data = tiny_cifar(tmp_path / "data")
    with pytest.raises(ValueError, match="init pretext needs --upstream"):
        cifar_transfer.train(data, transfer_values("pretext"), {"threads": 1, "device": "cpu"}, tmp_path / "r",
                             tmp_path / "m.json", tmp_path / "p.json", "x")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_augmentation_runs_on_the_gpu_deterministically():
    x = images(64).cuda()
    a = augment(x, ALL, torch.Generator("cuda").manual_seed(3), SETTINGS)
    b = augment(x, ALL, torch.Generator("cuda").manual_seed(3), SETTINGS)
    assert a.device.type == "cuda" and a.shape == x.shape and torch.equal(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cpu_generator_augments_a_cuda_batch_as_it_does_a_cpu_one():
    """face_recognition augments with the training seed's CPU stream: on a GPU its draws are the CPU's."""
    ops, settings = ALL + ["lighting"], {**SETTINGS, "lighting_strength": 1.0, "lighting_gamma": 0.3}
    x = images(64)
    on_cpu = augment(x, ops, torch.Generator().manual_seed(3), settings)
    on_cuda = augment(x.cuda(), ops, torch.Generator().manual_seed(3), settings)
    assert on_cuda.device.type == "cuda"
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, rtol=1e-5, atol=1e-5)
