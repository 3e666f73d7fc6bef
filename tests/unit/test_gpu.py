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
