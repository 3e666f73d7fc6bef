"""train.optim against torch.optim: the same parameters after every step, bit for bit."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from dlrepro.train import optim


def model_and_batches(dtype: torch.dtype, seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3)).to(dtype)
    g = torch.Generator().manual_seed(seed + 1)
    batches = [(torch.randn(8, 7, generator=g, dtype=dtype), torch.randint(0, 3, (8,), generator=g))
               for _ in range(12)]
    return model, batches


def train(model, opt, batches, schedule=None, frozen_until: int = 0):
    """Steps on the batches; the first layer gets no gradient before step frozen_until (Adam's
    per-parameter step counts then differ within a group). Returns the parameters after each step."""
    after = []
    for i, (x, y) in enumerate(batches):
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        if i < frozen_until:
            for p in model[0].parameters():
                p.grad = None
        opt.step()
        if schedule is not None:
            schedule.step()
        after.append([p.detach().clone() for p in model.parameters()])
    return after


CASES = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.1), lambda p: optim.SGD(p, lr=0.1)),
    "momentum": (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), lambda p: optim.SGD(p, lr=0.05, momentum=0.9)),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01), lambda p: optim.Adam(p, lr=0.01)),
    "adam_foreach_betas": (lambda p: torch.optim.Adam(p, lr=2e-3, betas=(0.5, 0.999), foreach=True),
                           lambda p: optim.Adam(p, lr=2e-3, betas=(0.5, 0.999))),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", list(CASES))
def test_every_step_equals_torch_optim_bit_for_bit(case, dtype):
    theirs, ours = CASES[case]
    reference_model, batches = model_and_batches(dtype)
    model, _ = model_and_batches(dtype)
    expected = train(reference_model, theirs(reference_model.parameters()), batches, frozen_until=3)
    got = train(model, ours(model.parameters()), batches, frozen_until=3)
    for step, (e, g) in enumerate(zip(expected, got)):
        for a, b in zip(e, g):
            assert torch.equal(a, b), f"{case} {dtype}: step {step + 1} differs by {(a - b).abs().max().item():.3g}"
    assert not torch.equal(got[0][-1], got[-1][-1])   # it did train


@pytest.mark.parametrize("case", ["momentum", "adam"])
def test_groups_with_their_own_rates_under_a_cosine_schedule_equal_torch(case):
    theirs, ours = CASES[case]
    total = 10
    factor = optim.cosine(total)

    def groups(m):
        return [{"params": m[0].parameters(), "lr": 0.002}, {"params": m[2].parameters()}]

    reference_model, batches = model_and_batches(torch.float64, seed=3)
    model, _ = model_and_batches(torch.float64, seed=3)
    ref_opt = theirs(groups(reference_model))
    ref_schedule = torch.optim.lr_scheduler.LambdaLR(ref_opt, factor)
    opt = ours(groups(model))
    schedule = optim.Schedule(opt, factor)
    assert schedule.get_last_lr() == ref_schedule.get_last_lr()
    expected = train(reference_model, ref_opt, batches, ref_schedule)
    got = train(model, opt, batches, schedule)
    assert all(torch.equal(a, b) for e, g in zip(expected, got) for a, b in zip(e, g))
    assert schedule.get_last_lr() == ref_schedule.get_last_lr()
    assert schedule.get_last_lr()[0] == 0.0 and factor(total // 2) == pytest.approx(0.5)   # ends at 0, halfway at half
    assert factor(0) == 1.0 and factor(total + 5) == 0.0 and math.isclose(factor(total // 2), 0.5)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([], lr=0.1)


def test_training_a_stage_never_imports_torch_dynamo():
    """What the module is for: a fit() in a fresh process leaves torch._dynamo unimported."""
    code = (
        "import sys, torch\n"
        "from dlrepro.train.engine import Split, fit\n"
        "x = torch.randn(64, 4); y = (x[:, 0] > 0).long()\n"
        "model = torch.nn.Linear(4, 2)\n"
        "for opt in ('adam', 'sgd', 'momentum'):\n"
        "    fit(model, Split(x, y), Split(x, y), epochs=2, batch_size=16, optimizer=opt, lr=0.1,\n"
        "        lr_schedule='cosine', generator=torch.Generator().manual_seed(0))\n"
        "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
