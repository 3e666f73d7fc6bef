"""mytorch's recurrent cells and layers, CTC loss and decoders: the proof's checks against torch and brute
force, property tests over random sizes, and the behaviour at the edges (impossible targets, bad shapes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlrepro.mytorch.ctc import CTCLoss
from dlrepro.mytorch.decode import beam_search, greedy
from dlrepro.mytorch.loss import log_softmax
from dlrepro.mytorch.proof.compare import TOLERANCE, relative_error
from dlrepro.mytorch.proof.recurrent import (CHECKS, ctc_quantities, sequence_probabilities,
                                             sequence_quantities)
from dlrepro.mytorch.recurrent import GRU, RNN, GRUCell, GRUClassifier, RNNCell

SEEDS = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("check", CHECKS, ids=[f"{c.module}: {c.case}" for c in CHECKS])
def test_check_within_tolerance(check):
    errors = check.errors()
    assert errors and max(errors.values()) <= TOLERANCE, errors


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(1, 5), classes=st.integers(2, 4), blank_at=st.floats(0, 1, exclude_max=True),
       width=st.integers(1, 6), seed=SEEDS)
def test_a_narrower_beam_never_finds_a_more_probable_sequence(steps, classes, blank_at, width, seed):
    blank = int(blank_at * classes)
    log_probs = log_softmax(2.0 * np.random.default_rng(seed).standard_normal((steps, classes)))
    truth = sequence_probabilities(log_probs, blank)
    wide = beam_search(log_probs, classes**steps, blank)
    narrow = beam_search(log_probs, width, blank)
    assert truth[wide.sequence] == pytest.approx(max(truth.values()), rel=1e-12)
    assert truth[narrow.sequence] <= truth[wide.sequence] * (1 + 1e-12)
    # A pruned beam sums only some of a sequence's paths: never more than its true probability.
    for sequence, log_prob in narrow.beam:
        assert log_prob <= np.log(truth[sequence]) + 1e-12
    scores = [log_prob for _, log_prob in narrow.beam]
    assert len(scores) <= width and scores == sorted(scores, reverse=True) and scores[0] == narrow.log_prob


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 3), steps=st.integers(1, 8), classes=st.integers(2, 5),
       blank_at=st.floats(0, 1, exclude_max=True), reduction=st.sampled_from(["mean", "sum", "none"]), seed=SEEDS)
def test_ctc_of_random_normalised_inputs_and_lengths_matches_torch(batch, steps, classes, blank_at, reduction, seed):
    rng = np.random.default_rng(seed)
    blank = int(blank_at * classes)
    input_lengths = rng.integers(1, steps + 1, batch)
    # At most half the input's length, so that every alignment fits however the labels repeat.
    target_lengths = rng.integers(0, input_lengths // 2 + 1)
    labels = np.array([c for c in range(classes) if c != blank])
    targets = rng.choice(labels, (batch, max(1, target_lengths.max()) + rng.integers(0, 2)))
    quantities = ctc_quantities(rng, targets, input_lengths, target_lengths, steps, classes, blank, reduction)
    errors = {name: relative_error(ours, ref) for name, ours, ref in quantities}
    assert max(errors.values()) <= TOLERANCE, errors


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["RNN", "GRU"]), steps=st.integers(1, 7), batch=st.integers(1, 3),
       layers=st.integers(1, 3), given_h0=st.booleans(), grad_final_h=st.booleans(), seed=SEEDS)
def test_backprop_through_random_lengths_matches_torch(kind, steps, batch, layers, given_h0, grad_final_h, seed):
    quantities = sequence_quantities(kind, np.random.default_rng(seed), steps, batch, 2, 3, layers, given_h0,
                                     grad_final_h)
    errors = {name: relative_error(ours, ref) for name, ours, ref in quantities}
    assert max(errors.values()) <= TOLERANCE, errors


def test_a_target_longer_than_its_input_has_infinite_loss_and_nan_gradient_as_torch():
    log_probs = log_softmax(np.random.default_rng(0).standard_normal((4, 3, 4)))
    # "a b c" needs 3 frames and "a a" 3 (a blank between the repeats); the second has only 2.
    targets, input_lengths, target_lengths = np.array([[1, 2, 3], [1, 1, 0], [1, 1, 0]]), [2, 2, 3], [3, 2, 2]
    ctc = CTCLoss(reduction="none")
    losses = ctc.forward(log_probs, targets, input_lengths, target_lengths)
    grad = ctc.backward()
    expected = torch.nn.functional.ctc_loss(torch.from_numpy(log_probs), torch.from_numpy(targets),
                                            torch.tensor(input_lengths), torch.tensor(target_lengths),
                                            reduction="none").numpy()
    assert np.isinf(losses[:2]).all() and np.isinf(expected[:2]).all()
    assert losses[2] == pytest.approx(float(expected[2]), rel=1e-12)
    assert np.isnan(grad[:, :2]).all() and np.isfinite(grad[:, 2]).all()
    assert np.isinf(CTCLoss(reduction="mean").forward(log_probs, targets, input_lengths, target_lengths))

    zeroed = CTCLoss(reduction="none", zero_infinity=True)
    losses = zeroed.forward(log_probs, targets, input_lengths, target_lengths)
    grad = zeroed.backward()
    assert (losses[:2] == 0).all() and (grad[:, :2] == 0).all() and np.isfinite(losses[2]) and grad[:, 2].any()


def test_the_cells_unrolled_by_hand_are_the_sequence_layer():
    """The cache stack: a cell called once per step, then backward once per step in reverse, is the GRU."""
    rng = np.random.default_rng(1)
    layer = GRU(3, 4, np.random.default_rng(2))
    cell = GRUCell(3, 4, np.random.default_rng(2))
    x, grad_out = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))
    outputs, _ = layer.forward(x)
    grad_x, _ = layer.backward(grad_out)
    h, hidden = None, []
    for t in range(5):
        h = cell.forward(x[t], h)
        hidden.append(h)
    carry, grads = np.zeros((2, 4)), []
    for t in reversed(range(5)):
        dx, carry = cell.backward(grad_out[t] + carry)
        grads.append(dx)
    np.testing.assert_allclose(np.stack(hidden), outputs, rtol=1e-13)
    np.testing.assert_allclose(np.stack(grads[::-1]), grad_x, rtol=1e-13)
    for ours, theirs in zip(cell.parameters(), layer.parameters()):
        np.testing.assert_allclose(ours.grad, theirs.grad, rtol=1e-13)


def test_forward_passes_never_backpropagated_do_not_pile_up():
    layer, rng = RNN(2, 3, np.random.default_rng(0), num_layers=2), np.random.default_rng(1)
    for _ in range(3):
        layer.forward(rng.standard_normal((4, 2, 2)))
    x = rng.standard_normal((6, 2, 2))
    layer.forward(x)
    layer.backward(np.ones((6, 2, 3)))
    assert all(len(cell._caches) == 0 for cell in layer.cells)
    with pytest.raises(RuntimeError, match="without a forward step"):
        layer.cells[0].backward(np.ones((2, 3)))


def test_dtype_follows_the_parameters_and_input():
    model = GRUClassifier(3, 4, 2, np.random.default_rng(0), num_layers=2, dtype=np.float32)
    logits = model.forward(np.ones((5, 2, 3), dtype=np.float32))
    grad_x = model.backward(np.ones((2, 2), dtype=np.float32))
    assert logits.dtype == grad_x.dtype == np.float32
    assert all(p.data.dtype == p.grad.dtype == np.float32 for p in model.parameters())


def test_initialisation_is_torchs_bounds_from_the_given_generator():
    a, b = GRUClassifier(3, 16, 2, np.random.default_rng(5)), GRUClassifier(3, 16, 2, np.random.default_rng(5))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert np.abs(p.data).max() <= 1 / 4
    shapes = [p.data.shape for p in a.parameters()]
    torch_shapes = [tuple(p.shape) for p in torch.nn.GRU(3, 16).parameters()] + [(2, 16), (2,)]
    assert shapes == torch_shapes


@pytest.mark.parametrize("call, message", [
    (lambda: RNNCell(3, 4, np.random.default_rng(0)).forward(np.ones((2, 5))), r"input of shape \(2, 5\)"),
    (lambda: GRUCell(3, 4, np.random.default_rng(0)).forward(np.ones((2, 3)), np.ones((3, 4))),
     r"hidden state of shape \(3, 4\)"),
    (lambda: GRU(3, 4, np.random.default_rng(0)).forward(np.ones((2, 3))), r"input of shape \(2, 3\)"),
    (lambda: RNN(3, 4, np.random.default_rng(0), num_layers=2).forward(np.ones((2, 1, 3)), np.ones((1, 1, 4))),
     r"initial hidden state of shape \(1, 1, 4\)"),
    (lambda: CTCLoss().forward(np.zeros((4, 3)), [[1]], [4], [1]), r"log_probs of shape \(4, 3\)"),
    (lambda: CTCLoss().forward(np.zeros((4, 2, 3)), [[1]], [4, 4], [1, 1]), r"targets of shape \(1, 1\)"),
    (lambda: CTCLoss().forward(np.zeros((4, 1, 3)), [[1]], [5], [1]), r"input_lengths \[5\] outside 1..4"),
    (lambda: CTCLoss(blank=2).forward(np.zeros((4, 1, 3)), [[1, 2]], [4], [2]), "other than blank 2"),
    (lambda: CTCLoss(blank=3).forward(np.zeros((4, 1, 3)), [[1]], [4], [1]), r"blank 3 .* shape \(4, 1, 3\)"),
    (lambda: CTCLoss(reduction="max"), "reduction 'max'"),
    (lambda: greedy(np.zeros((4, 3))), r"log_probs of shape \(4, 3\)"),
    (lambda: beam_search(np.zeros((4, 3)), 0), "beam_width 0"),
    (lambda: beam_search(np.zeros((4, 3)), 2, blank=-1), r"blank -1 .* shape \(4, 3\)"),
])
def test_bad_inputs_raise_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
