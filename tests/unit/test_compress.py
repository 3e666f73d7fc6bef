"""Low-rank layers, the compressed file format, and the compression steps, on small made-up nets."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from dlrepro.experiments import svd_compress as sc
from dlrepro.models import compressed
from dlrepro.models.lowrank import FactorisedLinear, SVDLinear, factorise, singular_values, truncated_svd
from dlrepro.models.mlp import MLP
from dlrepro.train.engine import Split, evaluate

METHOD = {"rank": None, "sparsity": 0.0, "training": "oneshot"}
LOOP = {"svd": "exact", "oversample": 10, "power_iterations": 2, "timing_steps": 1}


def small_mlp(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(20, [32, 24], 3, "relu", "he")


def toy_split(n: int = 300, seed: int = 1) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 20, generator=g)
    return Split(x, (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long())


def test_truncated_svd_is_exact_at_full_rank_and_optimal_below():
    torch.manual_seed(0)
    w = torch.randn(30, 18)
    us, vh = truncated_svd(w, 18)
    assert torch.allclose(us @ vh, w, atol=1e-5)
    s = torch.linalg.svdvals(w)
    us, vh = truncated_svd(w, 5)
    # Eckart-Young: the error is the norm of the dropped singular values.
    assert torch.linalg.norm(w - us @ vh) == pytest.approx(float(s[5:].norm()), rel=1e-4)
    with pytest.raises(ValueError, match="rank 19 outside 1..18"):
        truncated_svd(w, 19)


def test_factorise_keeps_bias_and_goes_dense_when_factors_are_larger():
    torch.manual_seed(0)
    layer = nn.Linear(40, 30)
    thin = factorise(layer, 4)
    assert isinstance(thin, FactorisedLinear) and thin.rank == 4
    assert torch.equal(thin.second.bias, layer.bias)
    x = torch.randn(5, 40)
    us, vh = truncated_svd(layer.weight, 4)
    assert torch.allclose(thin(x), x @ (us @ vh).T + layer.bias, atol=1e-5)
    full = factorise(layer, 30)  # 30 * (40 + 30) > 40 * 30: stored dense
    assert isinstance(full, nn.Linear)
    assert torch.allclose(full(x), layer(x), atol=1e-5)


@pytest.mark.parametrize("method", ["exact", "randomized"])
def test_svd_in_the_loop_uses_rank_d_weight_and_trains_the_full_one(method):
    torch.manual_seed(0)
    # A matrix of rank 6 plus small noise: the randomized range finder recovers its top 3 exactly enough.
    base = nn.Linear(50, 40)
    with torch.no_grad():
        base.weight.copy_(torch.randn(40, 6) @ torch.randn(6, 50) + 0.01 * torch.randn(40, 50))
    layer = SVDLinear(base, 3, method)
    us, vh = truncated_svd(base.weight, 3)
    assert torch.allclose(layer.low_rank_weight(), us @ vh, atol=1e-3 * float((us @ vh).abs().max()))
    assert sc.loop_weight_gap(layer) < 1e-3
    layer(torch.randn(8, 50)).square().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_int8_rows_are_within_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(16, 40) * torch.linspace(0.1, 3, 16)[:, None]
    q, scale = compressed.quantize_rows(w)
    assert q.dtype == torch.int8 and scale.shape == (16,)
    assert ((q.float() * scale[:, None] - w).abs() <= scale[:, None] / 2 + 1e-6).all()
    assert (q.abs().amax(dim=1) == 127).all()


@pytest.mark.parametrize("density,layout", [(1.0, "dense"), (0.5, "mask"), (0.03, "csr")])
@pytest.mark.parametrize("int8", [False, True])
def test_matrix_layouts_round_trip_and_pick_the_smallest(density, layout, int8):
    torch.manual_seed(0)
    w = torch.randn(64, 100)
    w[torch.rand(64, 100) >= density] = 0
    record = compressed.encode_matrix(w, int8)
    assert record["layout"] == layout
    sizes = compressed.layout_bytes(64, 100, int((w != 0).sum()), 1 if int8 else 4)
    payload = sum(t.nbytes for k, t in record.items() if isinstance(t, torch.Tensor) and k != "scale")
    assert payload == sizes[layout] == min(sizes.values())
    back = compressed.decode_matrix(record)
    assert not back[w == 0].any()  # pruned entries stay zero (int8 may round tiny ones to zero too)
    if int8:
        assert torch.allclose(back, w, atol=float(record["scale"].max()) / 2 + 1e-6)
    else:
        assert torch.equal(back, w)


def test_saved_and_loaded_compressed_model_gives_the_same_accuracy(tmp_path):
    split = toy_split()
    model = sc.prepare(small_mlp(), {"rank": 6, "sparsity": 0.5, "training": "oneshot"}, LOOP)
    model = sc.finalize(model)
    for int8 in (False, True):
        state = compressed.encode(model, "relu", int8=int8)
        in_memory = compressed.decode(state)
        size = compressed.save(state, tmp_path / f"m{int8}.pt")
        assert size == (tmp_path / f"m{int8}.pt").stat().st_size > compressed.payload_bytes(state)
        loaded = compressed.decode(compressed.load(tmp_path / f"m{int8}.pt"))
        assert isinstance(loaded.hidden[0], FactorisedLinear)
        assert evaluate(loaded, split) == evaluate(in_memory, split)
        assert torch.equal(loaded(split.x), in_memory(split.x))
        if not int8:  # float32 storage is lossless
            assert torch.equal(loaded(split.x), model(split.x))


def test_stored_file_shrinks_with_rank_and_int8(tmp_path):
    def size(method, int8):
        model = sc.finalize(sc.prepare(small_mlp(), {**METHOD, **method}, LOOP))
        return compressed.save(compressed.encode(model, "relu", int8), tmp_path / "m.pt")

    dense, dense8 = size({}, False), size({}, True)
    low = size({"rank": 2}, False)
    assert low < dense and dense8 < dense
    # int8 payload is a quarter of the float32 one plus one scale per row.
    model = small_mlp()
    p32 = compressed.payload_bytes(compressed.encode(model, "relu", False))
    p8 = compressed.payload_bytes(compressed.encode(model, "relu", True))
    biases = sum(layer.bias.nbytes for layer in [*model.hidden, model.out])
    rows = sum(layer.out_features for layer in [*model.hidden, model.out])
    assert p8 == (p32 - biases) // 4 + biases + 4 * rows


def test_full_rank_one_shot_equals_the_baseline():
    split = toy_split()
    model = small_mlp()
    full = sc.finalize(sc.prepare(copy.deepcopy(model), {**METHOD, "rank": "full"}, LOOP))
    assert all(isinstance(layer, nn.Linear) for layer in full.hidden)
    assert torch.allclose(full(split.x), model(split.x), atol=1e-4)


def test_pruning_zeroes_the_smallest_weights_and_finetuning_keeps_them_zero():
    model = sc.prepare(small_mlp(), {**METHOD, "sparsity": 0.75, "training": "finetune"}, LOOP)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    split = toy_split()
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(split.x), split.y).backward()
        opt.step()
    model = sc.finalize(model)
    for layer in model.hidden:
        zeros = (layer.weight == 0).float().mean().item()
        assert zeros == pytest.approx(0.75, abs=0.01)
    assert (model.out.weight != 0).all()  # the output layer is kept


def test_loop_is_stored_as_exact_factors():
    model = sc.prepare(small_mlp(), {**METHOD, "rank": 4, "training": "loop"}, LOOP)
    assert all(isinstance(layer, SVDLinear) for layer in model.hidden)
    weights = [layer.low_rank_weight().detach() for layer in model.hidden]
    model = sc.finalize(model)
    for layer, w in zip(model.hidden, weights):
        assert isinstance(layer, FactorisedLinear) and layer.rank == 4
        assert torch.allclose(layer.second.weight @ layer.first.weight, w, atol=1e-5)
    with pytest.raises(ValueError, match="needs a rank and no sparsity"):
        sc.prepare(small_mlp(), {**METHOD, "training": "loop"}, LOOP)


def test_claim_picks_the_smallest_model_within_tolerance():
    def variant(acc, bytes_, acc8, bytes8):
        per_seed = [{"seed": s, "baseline_test_accuracy": 0.98, "baseline_val_accuracy": 0.97, "baseline_bytes": 1000,
                     "test_accuracy": acc, "stored_bytes": bytes_, "test_accuracy_int8": acc8,
                     "stored_bytes_int8": bytes8} for s in (0, 1)]
        return {"per_seed": per_seed, "baseline_bytes": 1000,
                "baseline_test_accuracy": {"mean": 0.98}}

    metrics = {"baseline": variant(0.98, 1000, 0.9795, 260), "small": variant(0.97, 20, 0.9695, 6),
               "mid": variant(0.9791, 50, 0.975, 14)}
    rows = [{"variant": v, "precision": p, "size_pct": m["per_seed"][0][f"stored_bytes{s}"] / 10,
             "stored_bytes": m["per_seed"][0][f"stored_bytes{s}"],
             "test_accuracy": m["per_seed"][0][f"test_accuracy{s}"], "change": 0, "change_low": 0, "change_high": 0,
             "val_accuracy": 0.97 if v == "baseline" else 0.95}
            for v, m in metrics.items() for p, s in (("float32", ""), ("int8", "_int8"))]
    claim = sc.claim_check(metrics, rows, {"tolerance": 0.001, "size_pct": 3.0})
    assert (claim["best"]["variant"], claim["best"]["precision"]) == ("mid", "float32")
    assert claim["best"]["size_pct"] == 5.0 and not claim["claim_holds"]
    assert claim["smallest_size_pct"]["mean"] == 5.0
    assert "does not hold" in claim["statement"]
    # On validation only the baseline is within tolerance; its int8 copy is the smallest such model.
    assert (claim["selected_on_validation"]["variant"], claim["selected_on_validation"]["precision"]) == \
        ("baseline", "int8")
    assert sc.claim_check(metrics, rows, {"tolerance": 0.001, "size_pct": 6.0})["claim_holds"]


def test_singular_values_match_torch_svd():
    torch.manual_seed(0)
    for shape in ((30, 18), (18, 30)):
        w = torch.randn(*shape)
        assert torch.allclose(singular_values(w).float(), torch.linalg.svdvals(w), rtol=1e-4)
        us, vh = truncated_svd(w, 18)
        assert torch.allclose(us @ vh, w, atol=1e-5)
