"""Speech models and training pieces: padding never counts, causality, tied weights, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlrepro.experiments.lstm_ibm import ChunkWise, to_chunks
from dlrepro.experiments.siamese import one_shot
from dlrepro.train.verification import roc_eer
from dlrepro.train.speech import chunks, masked_mse, padded
from dlrepro.models.speech import N_BINS, Conv2dWindow, Denoiser, Siamese, SiameseEncoder, build_network
from dlrepro.train.engine import Split, fit, seed_everything

STATS = (torch.zeros(N_BINS), torch.ones(N_BINS))


def test_masked_mse_ignores_padding():
    out, target = torch.rand(2, 5, 3), torch.rand(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    garbage = out.clone()
    garbage[0, 3:] = 100.0
    assert masked_mse(garbage, target, mask) == pytest.approx(masked_mse(out, target, mask).item())
    expected = torch.cat([((out - target) ** 2)[0, :3].ravel(), ((out - target) ** 2)[1].ravel()]).mean()
    assert masked_mse(out, target, mask) == pytest.approx(expected.item())
    assert masked_mse(out, target, None) == pytest.approx(((out - target) ** 2).mean().item())


def test_fit_with_a_loss_and_a_score_keeps_the_best_scoring_epoch():
    seed_everything(0)
    x = torch.rand(64, 4, N_BINS)
    y = x * 0.5
    model = Denoiser({"kind": "fc", "output": "mask", "hidden": [16], "dropout": 0.0}, *STATS)
    scores = iter([1.0, 5.0, 2.0])
    result = fit(model, Split(x, y), Split(x[:8], y[:8]), epochs=3, batch_size=16, optimizer="adam", lr=1e-2,
                 lr_schedule="constant", generator=torch.Generator().manual_seed(0), loss_fn=masked_mse,
                 score_fn=lambda m: {"score": next(scores)})
    assert result.best_epoch == 2
    assert [h["val_score"] for h in result.history] == [1.0, 5.0, 2.0]
    assert "train_accuracy" not in result.history[0]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_padded_batches_train_exactly_like_unpadded_ones():
    """A causal LSTM on zero-padded utterances with the padding masked: the same loss and gradients
    as on the real frames alone, whatever the padding holds."""
    torch.manual_seed(0)
    model = Denoiser({"kind": "lstm", "output": "ibm", "hidden": [8], "dropout": 0.0}, *STATS)
    x, y = torch.rand(1, 6, N_BINS), (torch.rand(1, 6, N_BINS) > 0.5).float()
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]], dtype=torch.float32)
    x_junk = x.clone()
    x_junk[0, 4:] = 50.0

    def grads(inp, target, m):
        model.zero_grad()
        loss = masked_mse(model(inp), target, m)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters()]

    loss_a, g_a = grads(x, y, mask)
    loss_b, g_b = grads(x_junk, y, mask)
    loss_c, g_c = grads(x[:, :4], y[:, :4], None)
    assert loss_a == pytest.approx(loss_b) == pytest.approx(loss_c)
    for a, b, c in zip(g_a, g_b, g_c):
        assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)


def test_chunk_scheme_pads_only_the_last_chunk_and_resets_state():
    frames = np.arange(3 * 2 * 1, dtype=np.float32).reshape(-1, 1)
    offsets = np.array([0, 3, 6])
    x, mask = padded(np.repeat(frames, 2, axis=1), offsets, np.array([0, 1]), 4)
    assert mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 0]]
    cx, cm = to_chunks(torch.from_numpy(x), torch.from_numpy(mask), 2)
    assert cm.tolist() == [[1, 1], [1, 0], [1, 1], [1, 0]]
    torch.manual_seed(0)
    lstm = Denoiser({"kind": "lstm", "output": "ibm", "hidden": [4], "dropout": 0.0}, *STATS)
    seq = torch.rand(1, 20, N_BINS)
    wrapped = ChunkWise(lstm, 10)(seq)
    assert torch.allclose(wrapped[:, 10:], lstm(seq[:, 10:]), atol=1e-6)  # state starts afresh
    assert not torch.allclose(wrapped[:, 10:], lstm(seq)[:, 10:], atol=1e-4)


def test_cnn2d_window_is_causal_and_sees_window_frames():
    torch.manual_seed(0)
    net = Conv2dWindow(window=4, channels=[2], kernels=[2], dense=8, dropout=0.0).eval()
    x = torch.rand(1, 10, N_BINS)
    changed = x.clone()
    changed[0, 6] += 1.0
    diff = (net(x) - net(changed)).abs().sum(-1)[0]
    # nothing from the future; the current frame and the ones just after it see the change
    assert torch.all(diff[:6] == 0) and torch.all(diff[6:9] > 0)


@pytest.mark.parametrize("kind", ["fc", "cnn1d", "cnn2d", "bilstm"])
def test_denoisers_map_frames_to_frames(kind):
    m = {"kind": kind, "output": "mask", "hidden": [8, 8], "dropout": 0.1, "channels": [2, 3], "kernels": [3, 2],
         "dense": 8, "window": 8}
    model = Denoiser(m, *STATS).eval()
    x = torch.rand(2, 7, N_BINS)
    out = model(x)
    assert out.shape == x.shape and torch.all(out >= 0) and torch.all(out <= x + 1e-6)  # a mask only removes
    assert isinstance(build_network(m), torch.nn.Module)


def test_siamese_twins_share_weights_and_ignore_padding():
    torch.manual_seed(0)
    mags = torch.rand(4, 6, N_BINS)
    lengths = torch.tensor([6, 3, 5, 2])
    model = Siamese(SiameseEncoder("bilstm", 8, 1, 4, *STATS), mags, lengths).eval()
    assert "mags" not in model.state_dict()
    pairs = torch.tensor([[0, 1], [1, 0], [2, 2]])
    cos = model.cosine(pairs).tolist()
    assert cos[0] == pytest.approx(cos[1], abs=1e-6) and cos[2] == pytest.approx(1.0, abs=1e-5)
    before = model.embed(torch.arange(4))
    model.mags[1, 3:] = 99.0  # padding of utterance 1
    assert torch.allclose(model.embed(torch.arange(4)), before, atol=1e-6)
    logits = model(pairs)
    assert logits.shape == (3, 2) and torch.all(logits[:, 0] == 0)


def test_roc_eer_and_one_shot():
    labels = np.array([0, 0, 0, 1, 1, 1])
    _, _, auc, eer = roc_eer(labels, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))
    assert auc == 1.0 and eer == 0.0
    _, _, auc, eer = roc_eer(labels, np.array([0.9, 0.2, 0.3, 0.7, 0.8, 0.1]))
    assert auc == pytest.approx(4 / 9) and eer == pytest.approx(1 / 3)
    emb = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], dtype=float)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert one_shot(emb, np.array([0, 0, 1, 1]), 5, np.random.default_rng(0)) == 1.0
    assert one_shot(emb, np.array([0, 1, 0, 1]), 20, np.random.default_rng(0)) < 0.5


def test_chunks_overlap_by_the_hop():
    frames = np.arange(10)[:, None].repeat(2, 1)
    c = chunks(frames, 4, 3)
    assert c.shape == (3, 4, 2) and c[:, 0, 0].tolist() == [0, 3, 6]


def test_best_threshold_maximises_accuracy():
    from dlrepro.train.verification import best_threshold

    labels = np.array([0, 0, 1, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    t, acc = best_threshold(labels, scores)
    assert acc == pytest.approx(5 / 6) and (0.2 < t < 0.3 or 0.4 < t < 0.5)
    assert np.mean((scores > t) == labels) == pytest.approx(acc)
    assert best_threshold(np.array([1, 1]), np.array([0.1, 0.2]))[1] == 1.0
