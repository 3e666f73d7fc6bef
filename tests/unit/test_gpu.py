"""The CUDA path: same engine, data on the GPU, bf16 autocast. Skipped where CUDA is absent."""

import pytest
import torch

from dlrepro.models.mlp import MLP
from dlrepro.train.engine import Split, configure, evaluate, fit, pick_device, seed_everything

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA; this machine has none")]


def test_auto_device_is_cuda_and_training_runs_there():
    assert pick_device("auto").type == "cuda"
    configure()
    gen = seed_everything(0)
    centres = torch.randn(3, 20, generator=torch.Generator().manual_seed(0)) * 2
    y = torch.arange(900) % 3
    x = centres[y] + torch.randn(900, 20, generator=torch.Generator().manual_seed(1))
    train = Split(x[:600].cuda(), y[:600].cuda())
    val = Split(x[600:].cuda(), y[600:].cuda())
    model = MLP(20, [64, 64], 3).cuda()
    result = fit(model, train, val, epochs=5, batch_size=64, optimizer="adam", lr=1e-2,
                 lr_schedule="cosine", generator=gen)
    model.load_state_dict(result.best_state)
    assert next(model.parameters()).dtype == torch.float32  # bf16 only inside autocast
    assert evaluate(model, val)["accuracy"] > 0.9


def test_pooled_conv_nets_train_on_cuda_under_deterministic_algorithms():
    """configure() makes every op deterministic or raise: the ResNet and the strong CNN train on CUDA
    without raising (torch's docs list their global pooling's CUDA backward among the ops that raise;
    torch 2.11 ran it), and two runs from one seed give the same weights."""
    from dlrepro.models import cnn, resnet

    configure()
    gen = torch.Generator().manual_seed(0)
    x, y = (torch.rand(16, 1, 48, 42, generator=gen) + 0.05).cuda(), (torch.arange(16) % 4).cuda()  # intensities

    def trained(make):
        torch.manual_seed(0)
        model = make().cuda()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(3):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return [p.detach().cpu() for p in model.parameters()]

    for make in (lambda: resnet.ResNet(4, [1, 1, 1, 1], [8, 16, 32, 64], input_norm="log"),
                 lambda: cnn.build({"kind": "strong", "widths": [8, 16], "depth": 1}, 1, 48, 4)):
        first, second = trained(make), trained(make)
        assert all(torch.isfinite(p).all() for p in first)
        assert all(torch.equal(a, b) for a, b in zip(first, second))
