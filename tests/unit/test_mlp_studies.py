"""The pieces of the MNIST MLP studies on small made-up data: model options, optimiser, step loop,
the batched random-units probe, the input-pipeline orders and the ablation summary."""

import math

import numpy as np
import pytest
import torch

from dlrepro.experiments import input_order, layer_probes, mlp_ablation
from dlrepro.models.mlp import MLP
from dlrepro.train.engine import Split, configure, epoch_batches, fit_steps, make_optimizer, seed_everything


def test_initialisers_have_their_scales():
    torch.manual_seed(0)
    normal = MLP(784, [512, 512], 10, "sigmoid", "normal", init_std=0.01)
    assert abs(normal.hidden[1].weight.std().item() - 0.01) < 0.0005
    assert normal.hidden[0].bias.abs().max().item() == 0
    xavier = MLP(784, [512, 256], 10, "sigmoid", "xavier")
    assert abs(xavier.hidden[1].weight.std().item() - math.sqrt(2 / (512 + 256))) < 0.002
    he = MLP(784, [512, 512], 10, "relu", "he_normal")
    assert abs(he.hidden[1].weight.std().item() - math.sqrt(2 / 512)) < 0.002
    assert he.hidden[1].bias.abs().max().item() == 0
    zeros = MLP(784, [32], 10, "relu", "zeros")
    assert all(p.abs().max().item() == 0 for p in zeros.parameters())


def test_dropout_batchnorm_and_softmax_regression():
    torch.manual_seed(0)
    model = MLP(20, [16, 16], 3, "leaky_relu", "he_normal", dropout=[0.2, 0.5], batchnorm=True)
    assert [d.p for d in model.drops] == [0.2, 0.5] and len(model.norms) == 2
    x = torch.randn(64, 20)
    model.train()
    assert not torch.equal(model(x), model(x))  # dropout active
    model.eval()
    assert torch.equal(model(x), model(x))
    assert (model.features(x)[1] < 0).any()  # leaky ReLU lets negatives through
    linear = MLP(20, [], 3, init="zeros")
    assert len(linear.features(x)) == 2 and linear(x).abs().max().item() == 0
    with pytest.raises(ValueError, match="dropout rates"):
        MLP(20, [16, 16], 3, dropout=[0.1])


def test_plain_model_unchanged_by_the_new_options():
    torch.manual_seed(0)
    a = MLP(20, [16, 16], 3)
    torch.manual_seed(0)
    b = MLP(20, [16, 16], 3, dropout=[0.0, 0.0], batchnorm=False)
    assert a.norms is None and a.drops is None
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_momentum_optimizer():
    w = torch.nn.Parameter(torch.zeros(1))
    opt = make_optimizer("momentum", [w], lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (w * 1.0).sum().backward()
        opt.step()
    # v1 = 1, w = -0.1; v2 = 0.9 + 1 = 1.9, w = -0.1 - 0.19
    assert abs(w.item() + 0.29) < 1e-6
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer("rmsprop", [w], lr=0.1)


def test_epoch_batches_cover_each_epoch_once_and_stop_at_steps():
    batches = list(epoch_batches(10, 4, steps=7, generator=torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2, 4]
    assert sorted(torch.cat(batches[:3]).tolist()) == list(range(10))
    assert not torch.equal(torch.cat(batches[:3]), torch.cat(batches[3:6]))  # reshuffled
    sequential = list(epoch_batches(10, 4, steps=3, generator=None))
    assert torch.cat(sequential).tolist() == list(range(10))


def test_fit_steps_follows_the_given_batches_and_reports_every_eval():
    configure(1)
    seed_everything(0)
    x, y = torch.randn(200, 5), torch.arange(200) % 2
    x[:, 0] += 3 * y
    model = MLP(5, [8], 2)
    seen = []
    rows = fit_steps(model, Split(x, y), Split(x, y), epoch_batches(200, 50, 20, torch.Generator().manual_seed(0)),
                     optimizer="sgd", lr=0.5, eval_every=8, on_step=lambda step, m, loss: seen.append(step))
    assert seen == list(range(1, 21))
    assert [r["step"] for r in rows] == [8, 16, 20]
    assert rows[-1]["val_accuracy"] > 0.9 and rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_batched_subset_probes_match_one_at_a_time_and_find_informative_units():
    gen = torch.Generator().manual_seed(0)
    n, units = 400, 30
    y = torch.arange(n) % 4
    x = torch.randn(n, units, generator=gen)
    x[:, :3] += 3 * torch.nn.functional.one_hot(y, 4)[:, :3].float()  # units 0-2 carry the class
    subsets = torch.tensor([[0, 1, 2], [10, 11, 12], [0, 20, 21], [5, 6, 7]])
    evals = [(x, y)]
    together = layer_probes.subset_probes(x, y, evals, subsets, 4, steps=60, lr=0.1, weight_decay=1e-4)[0]
    alone = torch.cat([layer_probes.subset_probes(x, y, evals, s[None], 4, steps=60, lr=0.1, weight_decay=1e-4)[0]
                       for s in subsets])
    assert torch.allclose(together, alone, atol=1e-6)
    assert together[0] > 0.8 and together[1] < 0.4 and together[3] < 0.4 and together[1] < together[2] < together[0]


def test_shuffle_buffer_is_a_permutation_and_a_small_buffer_only_shuffles_locally():
    rng = np.random.default_rng(0)
    out = input_order.buffer_shuffle(1000, 10, rng)
    assert sorted(out.tolist()) == list(range(1000))
    position = np.empty(1000, dtype=int)
    position[out] = np.arange(1000)
    # element i enters the buffer only after i - 10 elements have left it
    assert (position >= np.arange(1000) - 10).all()
    assert not (out == np.arange(1000)).all()


def _stats(ops, buffer=0, n=100, b=32, passes=4):
    rng = np.random.default_rng(0)
    idx, sizes = input_order.pipeline(ops, n, b, buffer, passes, rng)
    labels = np.repeat(np.arange(10), n // 10)
    return idx, sizes, input_order.batch_stats(idx, sizes, labels, n, b)


def test_shuffle_batch_repeat_keeps_epoch_boundaries():
    idx, sizes, s = _stats(["shuffle", "batch", "repeat"])
    assert sizes.tolist() == [32, 32, 32, 4] * 4  # a short batch at every epoch's end
    assert s["straddling_batches"] == 0 and s["missing_per_pass_window"] == 0 and s["batches_with_a_repeat"] == 0
    assert s["recurring_batches"] == 0 and s["classes_per_batch"] > 6


def test_shuffle_repeat_batch_straddles_epochs_without_short_batches():
    idx, sizes, s = _stats(["shuffle", "repeat", "batch"])
    assert (sizes[:-1] == 32).all() and s["straddling_batches"] > 0
    assert s["missing_per_pass_window"] == 0  # every pass is still a full permutation


def test_repeat_then_shuffle_mixes_passes_so_examples_repeat_and_go_missing():
    idx, sizes, s = _stats(["repeat", "shuffle", "batch"])
    assert s["missing_per_pass_window"] > 0.05 and s["all_seen_after_passes"] > 1


def test_batch_before_shuffle_keeps_batches_fixed_and_sorted_storage_unmixed():
    idx, sizes, s = _stats(["batch", "shuffle", "repeat"])
    assert s["recurring_batches"] > 0.7  # the same batches every pass, only their order changes
    assert s["classes_per_batch"] < 5
    _, _, unshuffled = _stats(["batch", "repeat"])
    assert unshuffled["recurring_batches"] > 0.7


def test_ablation_summary_ranks_factors_from_the_numbers():
    def result(act, init, opt, accs, lr=0.001, width=64):
        return {"factors": {"activation": act, "init": init, "optimizer": opt, "learning rate": lr, "width": width,
                            "depth": 3, "dropout": (0.0, 0.0), "batchnorm": False}, "test": np.array(accs)}

    results = {}
    for act in ("sigmoid", "relu"):
        for init in ("normal", "he_normal"):
            for opt in ("sgd", "adam"):
                acc = 0.9 if opt == "adam" else 0.3  # the optimizer is what matters
                acc += 0.02 if act == "relu" else 0.0
                results[f"{act}_{init}_{opt}"] = result(act, init, opt, [acc - 0.01, acc, acc + 0.01])
    results["width_wide"] = result("relu", "he_normal", "adam", [0.95, 0.96, 0.97], width=256)
    results["lr_low"] = result("relu", "he_normal", "adam", [0.919, 0.92, 0.921], lr=0.0001)
    differs = mlp_ablation.classify(results, "relu_he_normal_adam")
    assert differs["relu_normal_sgd"] == ["init", "optimizer"] and differs["width_wide"] == ["width"]
    assert differs["lr_low"] == ["learning rate"]
    grid = [v for v, d in differs.items() if set(d) <= set(mlp_ablation.GRID_FACTORS)]
    effects = mlp_ablation.grid_effects(results, grid)
    assert [e["factor"] for e in effects][0] == "optimizer"
    assert abs(effects[0]["range"] - 0.6) < 1e-9 and effects[0]["eta2"] > 0.9
    assert next(e for e in effects if e["factor"] == "init")["range"] < 1e-9
    sweeps = {s["variant"]: s for s in mlp_ablation.sweep_effects(results, differs, "relu_he_normal_adam")}
    assert sweeps["width_wide"]["significant"] and sweeps["width_wide"]["delta"] > 0.03
    assert not sweeps["lr_low"]["significant"]
    text = mlp_ablation.findings(effects, list(sweeps.values()), results, "relu_he_normal_adam")
    assert "matters most is **optimizer**" in text and "width 256" in text



def test_grid_effects_count_each_cell_once_whatever_its_seeds():
    """The real profile runs 3 seeds of the quoted cells and 1 of the rest: a level's mean is over
    cells, so a cell with 3 seeds does not weigh three times."""
    def cell(act, opt, accs):
        return {"factors": {"activation": act, "init": "he_normal", "optimizer": opt}, "test": np.array(accs)}

    results = {"relu_sgd": cell("relu", "sgd", [0.2, 0.2, 0.2]), "sigmoid_sgd": cell("sigmoid", "sgd", [0.4]),
               "relu_adam": cell("relu", "adam", [0.9]), "sigmoid_adam": cell("sigmoid", "adam", [0.9, 0.9, 0.9])}
    effects = {e["factor"]: e for e in mlp_ablation.grid_effects(results, list(results))}
    assert abs(effects["optimizer"]["level_means"]["sgd"] - 0.3) < 1e-12  # by runs it would be 0.25


def test_a_one_seed_sweep_is_undecided_not_within_noise():
    """The real profile runs the sweeps with one seed: no interval, so no claim about noise."""
    def run(accs, lr=0.001):
        return {"factors": {"activation": "relu", "init": "he_normal", "optimizer": "adam", "learning rate": lr,
                            "width": 64, "depth": 3, "dropout": (0.0, 0.0), "batchnorm": False}, "test": np.array(accs)}

    results = {"relu_he_normal_adam": run([0.95, 0.96, 0.97]), "lr_high": run([0.90], lr=0.01)}
    differs = mlp_ablation.classify(results, "relu_he_normal_adam")
    sweeps = mlp_ablation.sweep_effects(results, differs, "relu_he_normal_adam")
    text = mlp_ablation.findings([{"factor": f, "level_means": {"a": 0.5}, "best": "a", "worst": "a", "range": 0.0,
                                   "eta2": 0.0} for f in mlp_ablation.GRID_FACTORS], sweeps, results,
                                 "relu_he_normal_adam")
    assert "-6.0 points, undecided (1 seed: no interval)." in text and "within seed noise" not in text


def test_configure_turns_on_deterministic_algorithms():
    torch.use_deterministic_algorithms(False)
    configure(1)
    assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
