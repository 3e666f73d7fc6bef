"""Checks of the recurrent cells and layers, the CTC loss and the CTC decoders.

Cells and layers against torch.nn.RNNCell / GRUCell / RNN / GRU with the same weights (every
parameter gradient, backpropagated through time); CTCLoss against torch.nn.CTCLoss through a
log-softmax (torch's gradient is only right for normalised log-probabilities, see mytorch.ctc)
and against finite differences; the decoders (beam search also with a label n-gram) against
brute-force enumeration of every path.
"""
import itertools
from collections.abc import Callable

import numpy as np
import torch

from dlrepro.mytorch.ctc import CTCLoss
from dlrepro.mytorch.decode import NGram, beam_search, greedy
from dlrepro.mytorch.loss import log_softmax, log_softmax_backward
from dlrepro.mytorch.module import Module
from dlrepro.mytorch.recurrent import GRU, RNN, GRUCell, GRUClassifier, RNNCell
from dlrepro.mytorch.proof.compare import Check
from dlrepro.mytorch.proof.twins import copy_parameters, tensor, torch_twin

Quantities = list[tuple[str, np.ndarray, np.ndarray]]


def _parameter_grads(ours: Module, theirs: torch.nn.Module) -> Quantities:
    return [(f"grad {name}", mine.grad, their.grad.numpy())
            for mine, (name, their) in zip(ours.parameters(), theirs.named_parameters(), strict=True)]


# Recurrent cells and layers ------------------------------------------------------------------

def _cell_check(kind: str, batch: int, input_size: int, hidden: int, given_h: bool) -> Check:
    ours_type, theirs_type = {"RNNCell": (RNNCell, torch.nn.RNNCell), "GRUCell": (GRUCell, torch.nn.GRUCell)}[kind]

    def run(rng: np.random.Generator) -> Quantities:
        cell = ours_type(input_size, hidden, rng)
        twin = copy_parameters(cell, theirs_type(input_size, hidden))
        x = rng.standard_normal((batch, input_size))
        h = rng.standard_normal((batch, hidden)) if given_h else None
        delta = rng.standard_normal((batch, hidden))
        out = cell.forward(x, h)
        dx, dh = cell.backward(delta)
        x_t = tensor(x, grad=True)
        h_t = tensor(h, grad=True) if given_h else None
        out_t = twin(x_t, h_t)
        out_t.backward(tensor(delta))
        quantities = [("output", out, out_t.detach().numpy()), ("grad input", dx, x_t.grad.numpy())]
        if given_h:
            quantities.append(("grad hidden", dh, h_t.grad.numpy()))
        return quantities + _parameter_grads(cell, twin)

    h_case = "h given" if given_h else "h omitted (zeros)"
    return Check(kind, f"one step, batch {batch}, {input_size} inputs, {hidden} hidden, {h_case}", run)


def sequence_quantities(kind: str, rng: np.random.Generator, steps: int, batch: int, input_size: int,
                        hidden: int, layers: int, given_h0: bool, grad_final_h: bool) -> Quantities:
    """Forward and backpropagation through time of our RNN or GRU and torch's, same weights and gradients."""
    ours_type, theirs_type = {"RNN": (RNN, torch.nn.RNN), "GRU": (GRU, torch.nn.GRU)}[kind]
    layer = ours_type(input_size, hidden, rng, num_layers=layers)
    twin = copy_parameters(layer, theirs_type(input_size, hidden, num_layers=layers))
    x = rng.standard_normal((steps, batch, input_size))
    h0 = rng.standard_normal((layers, batch, hidden)) if given_h0 else None
    grad_out = rng.standard_normal((steps, batch, hidden))
    grad_h = rng.standard_normal((layers, batch, hidden)) if grad_final_h else None
    out, h_n = layer.forward(x, h0)
    dx, dh0 = layer.backward(grad_out, grad_h)
    x_t = tensor(x, grad=True)
    h0_t = tensor(h0, grad=True) if given_h0 else None
    out_t, h_n_t = twin(x_t, h0_t)
    if grad_final_h:
        torch.autograd.backward([out_t, h_n_t], [tensor(grad_out), tensor(grad_h)])
    else:
        out_t.backward(tensor(grad_out))
    quantities = [("output", out, out_t.detach().numpy()), ("final hidden", h_n, h_n_t.detach().numpy()),
                  ("grad input", dx, x_t.grad.numpy())]
    if given_h0:
        quantities.append(("grad initial hidden", dh0, h0_t.grad.numpy()))
    return quantities + _parameter_grads(layer, twin)


def _sequence_check(kind: str, steps: int, batch: int, layers: int, given_h0: bool, grad_final_h: bool) -> Check:
    parts = [f"sequence length {steps}", f"batch {batch}", f"{layers} layer{'s' * (layers > 1)}",
             "h0 given" if given_h0 else "h0 zeros",
             "gradient on final h" if grad_final_h else "outputs' gradient only"]
    return Check(kind, ", ".join(parts),
                 lambda rng: sequence_quantities(kind, rng, steps, batch, 3, 4, layers, given_h0, grad_final_h))


def _classifier_check(layers: int, sgd_steps: int) -> Check:
    """One backward from a random upstream gradient, or sgd_steps of cross-entropy SGD beside the twin
    (what a training stage does), comparing the logits and gradients at the end."""
    steps, batch, input_size, hidden, classes, lr = 5, 4, 3, 6, 3, 0.5

    def run(rng: np.random.Generator) -> Quantities:
        model = GRUClassifier(input_size, hidden, classes, rng, num_layers=layers)
        twin = torch_twin(model)
        x = rng.standard_normal((steps, batch, input_size))
        labels = rng.integers(0, classes, batch)
        x_t = tensor(x, grad=True)
        for _ in range(sgd_steps):
            model.zero_grad()
            twin.zero_grad()
            logits = model.forward(x)
            # Cross-entropy's gradient: softmax minus the one-hot labels, averaged over the batch.
            grad = np.exp(log_softmax(logits))
            grad[np.arange(batch), labels] -= 1.0
            model.backward(grad / batch)
            torch.nn.functional.cross_entropy(twin(x_t), torch.from_numpy(labels)).backward()
            for p in model.parameters():
                p.data -= lr * p.grad
            with torch.no_grad():
                for p in twin.parameters():
                    p -= lr * p.grad
        model.zero_grad()
        twin.zero_grad()
        x_t.grad = None
        upstream = rng.standard_normal((batch, classes))
        logits = model.forward(x)
        dx = model.backward(upstream)
        logits_t = twin(x_t)
        logits_t.backward(tensor(upstream))
        return [("logits", logits, logits_t.detach().numpy()), ("grad input", dx, x_t.grad.numpy())] + \
            _parameter_grads(model, twin)

    trained = f", after {sgd_steps} cross-entropy SGD steps beside the twin" if sgd_steps else ""
    return Check("GRUClassifier", f"{steps} steps, batch {batch}, {layers} GRU layer{'s' * (layers > 1)}{trained}", run)


# CTC loss -----------------------------------------------------------------------------------

def ctc_quantities(rng: np.random.Generator, targets, input_lengths, target_lengths, steps: int, classes: int,
                   blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Quantities:
    """Loss and d loss/d logits of logits -> log_softmax -> CTC, ours against torch's, for a random
    upstream gradient."""
    targets, input_lengths, target_lengths = np.asarray(targets), np.asarray(input_lengths), np.asarray(target_lengths)
    batch = len(input_lengths)
    logits = rng.standard_normal((steps, batch, classes))
    upstream = rng.standard_normal(batch if reduction == "none" else ())
    ctc = CTCLoss(blank, reduction, zero_infinity)
    log_probs = log_softmax(logits)
    loss = ctc.forward(log_probs, targets, input_lengths, target_lengths)
    grad_logits = log_softmax_backward(ctc.backward(upstream), log_probs)
    logits_t = tensor(logits, grad=True)
    loss_t = torch.nn.functional.ctc_loss(logits_t.log_softmax(2), torch.from_numpy(targets),
                                          torch.from_numpy(input_lengths), torch.from_numpy(target_lengths),
                                          blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    loss_t.backward(tensor(upstream))
    return [("loss", loss, loss_t.detach().numpy()), ("grad logits", grad_logits, logits_t.grad.numpy())]


def ctc_finite_differences(rng: np.random.Generator, targets, input_lengths, target_lengths, steps: int,
                           classes: int, blank: int = 0, reduction: str = "sum", step: float = 1e-5) -> Quantities:
    """Our gradient with respect to the log-probabilities (free inputs, not normalised) against central
    differences of our loss."""
    batch = len(input_lengths)
    log_probs = rng.standard_normal((steps, batch, classes)) - 1.0
    ctc = CTCLoss(blank, reduction)
    ctc.forward(log_probs, targets, input_lengths, target_lengths)
    grad = ctc.backward()
    numeric = np.zeros_like(log_probs)
    for index in np.ndindex(log_probs.shape):
        moved = log_probs.copy()
        moved[index] += step
        up = ctc.forward(moved, targets, input_lengths, target_lengths)
        moved[index] -= 2 * step
        down = ctc.forward(moved, targets, input_lengths, target_lengths)
        numeric[index] = (up - down) / (2 * step)
    return [("grad log-probs vs central differences", grad, numeric)]


def _ctc_check(case: str, run: Callable[[np.random.Generator], Quantities]) -> Check:
    return Check("CTCLoss", case, run)


# Decoders -----------------------------------------------------------------------------------

def collapse(path, blank: int) -> tuple[int, ...]:
    """Repeats merged, then blanks dropped."""
    return tuple(label for label, _ in itertools.groupby(path) if label != blank)


def sequence_probabilities(log_probs: np.ndarray, blank: int) -> dict[tuple[int, ...], float]:
    """Every collapsed sequence's probability, summed over all C^T paths (log_probs (T, C))."""
    steps, classes = log_probs.shape
    paths = np.array(list(itertools.product(range(classes), repeat=steps)))
    path_probs = np.exp(log_probs[np.arange(steps), paths].sum(axis=1))
    totals: dict[tuple[int, ...], float] = {}
    for path, prob in zip(paths.tolist(), path_probs.tolist()):
        key = collapse(path, blank)
        totals[key] = totals.get(key, 0.0) + prob
    return totals


def sequence_scores(log_probs: np.ndarray, blank: int, lm: NGram | None = None, lm_weight: float = 0.0,
                    insertion_bonus: float = 0.0) -> dict[tuple[int, ...], float]:
    """Brute force: each sequence's log-probability (every path summed), plus with an n-gram
    lm_weight × its log P_lm (the end included) + insertion_bonus × its length: beam search's score."""
    scores = {}
    for sequence, prob in sequence_probabilities(log_probs, blank).items():
        scores[sequence] = float(np.log(prob))
        if lm is not None:
            lm_log = sum(lm.log_probs(sequence[:i])[c] for i, c in enumerate(sequence)) + lm.log_probs(sequence)[blank]
            scores[sequence] += lm_weight * lm_log + insertion_bonus * len(sequence)
    return scores


def _beam_check(steps: int, classes: int, blank: int, lm_weight: float = 0.0, insertion_bonus: float = 0.0) -> Check:
    """Without lm_weight, probabilities; with it, a bigram of random label sequences and exp(score)."""
    def run(rng: np.random.Generator) -> Quantities:
        log_probs = log_softmax(2.0 * rng.standard_normal((steps, classes)))
        labels = [c for c in range(classes) if c != blank]
        lm = NGram([rng.choice(labels, rng.integers(1, 4)).tolist() for _ in range(8)], 2, classes, blank) \
            if lm_weight else None
        truth = sequence_scores(log_probs, blank, lm, lm_weight, insertion_bonus)
        best = max(truth, key=truth.get)
        found = beam_search(log_probs, classes**steps, blank, lm=lm, lm_weight=lm_weight, insertion_bonus=insertion_bonus)
        kept = dict(found.beam)
        every = sorted(truth)
        what = "exp(score)" if lm else "probability"
        return [("best sequence is brute force's (1 = yes)", np.array(float(found.sequence == best)), np.array(1.0)),
                (f"best sequence's {what}", np.exp(found.log_prob), np.exp(truth[best])),
                (f"{what} of every sequence", np.exp([kept.get(s, -np.inf) for s in every]),
                 np.exp([truth[s] for s in every]))]

    fusion = f", a bigram at weight {lm_weight:g}, bonus {insertion_bonus:g}" if lm_weight else ""
    return Check("beam_search", f"T {steps}, C {classes}, blank {blank}{fusion}, beam {classes**steps} keeps every prefix",
                 run)


def greedy_reference(log_probs: np.ndarray, blank: int, lengths) -> list[list[int]]:
    """Frame by frame argmax, then collapse, one sequence at a time."""
    return [list(collapse([int(np.argmax(log_probs[t, n])) for t in range(lengths[n])], blank))
            for n in range(log_probs.shape[1])]


def _greedy_check(case: str, make: Callable[[np.random.Generator], tuple[np.ndarray, int, list[int]]]) -> Check:
    def run(rng: np.random.Generator) -> Quantities:
        log_probs, blank, lengths = make(rng)
        same = greedy(log_probs, blank, lengths) == greedy_reference(log_probs, blank, lengths)
        return [("sequences are argmax-then-collapse's (1 = yes)", np.array(float(same)), np.array(1.0))]

    return Check("greedy", case, run)


def _greedy_by_hand(rng: np.random.Generator) -> tuple[np.ndarray, int, list[int]]:
    """Frames whose argmaxes are a a − a b b − −, a − − b b b a a and all blanks: repeats with and without
    a blank between them."""
    best_paths = np.array([[1, 1, 0, 1, 2, 2, 0, 0], [1, 0, 0, 2, 2, 2, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0]]).T
    log_probs = rng.standard_normal((8, 3, 3))
    np.put_along_axis(log_probs, best_paths[:, :, None], 5.0, axis=2)
    return log_softmax(log_probs), 0, [8, 8, 8]


CHECKS: list[Check] = [
    _cell_check("RNNCell", 3, 5, 4, given_h=True),
    _cell_check("RNNCell", 1, 2, 3, given_h=False),
    _cell_check("GRUCell", 3, 5, 4, given_h=True),
    _cell_check("GRUCell", 1, 2, 3, given_h=False),
    *[check for kind in ("RNN", "GRU") for check in (
        _sequence_check(kind, 6, 3, 1, given_h0=True, grad_final_h=False),
        _sequence_check(kind, 5, 2, 2, given_h0=True, grad_final_h=True),
        _sequence_check(kind, 4, 2, 2, given_h0=False, grad_final_h=False),
        _sequence_check(kind, 1, 3, 1, given_h0=True, grad_final_h=True),
        _sequence_check(kind, 1, 1, 2, given_h0=False, grad_final_h=True),
    )],
    _classifier_check(1, 0),
    _classifier_check(2, 0),
    _classifier_check(1, 3),
    _ctc_check("repeated labels 'a a' and 'b b b' (blanks between them needed), blank 0, mean",
               lambda rng: ctc_quantities(rng, [[1, 1, 2], [2, 2, 2]], [8, 8], [3, 3], 8, 3)),
    _ctc_check("repeated labels at the shortest input that fits ('a a' in 3 frames), sum",
               lambda rng: ctc_quantities(rng, [[1, 1]], [3], [2], 3, 3, reduction="sum")),
    _ctc_check("blank at the last index (C-1 = 4), mean",
               lambda rng: ctc_quantities(rng, [[0, 3, 3, 1], [2, 0, 1, 1]], [9, 9], [4, 4], 9, 5, blank=4)),
    _ctc_check("blank in the middle (2 of 5), none",
               lambda rng: ctc_quantities(rng, [[1, 3, 4], [4, 4, 0]], [7, 7], [3, 3], 7, 5, blank=2,
                                          reduction="none")),
    _ctc_check("unequal input lengths (9, 6, 3) and target lengths (4, 2, 1) in one batch, padding garbage, mean",
               lambda rng: ctc_quantities(rng, [[1, 2, 1, 3], [3, 3, 2, 2], [2, 1, 1, 1]], [9, 6, 3], [4, 2, 1], 9, 4)),
    _ctc_check("unequal lengths, reduction none",
               lambda rng: ctc_quantities(rng, [[1, 2, 1, 3], [3, 3, 9, 9], [2, 0, 0, 0]], [9, 6, 3], [4, 2, 1], 9, 4,
                                          reduction="none")),
    _ctc_check("unequal lengths, reduction sum",
               lambda rng: ctc_quantities(rng, [[1, 2, 1, 3], [3, 3, 0, 0], [2, 0, 0, 0]], [9, 6, 3], [4, 2, 1], 9, 4,
                                          reduction="sum")),
    _ctc_check("target length 1 for every sequence, input lengths 1, 4 and 6, mean",
               lambda rng: ctc_quantities(rng, [[2], [1], [3]], [1, 4, 6], [1, 1, 1], 6, 4)),
    _ctc_check("an empty target (only blanks) beside a full one, mean divides by max(length, 1)",
               lambda rng: ctc_quantities(rng, [[1, 2], [0, 0]], [5, 4], [2, 0], 5, 3)),
    _ctc_check("zero_infinity, one target longer than its input ('a b c' in 2 frames), none",
               lambda rng: ctc_quantities(rng, [[1, 2, 3], [1, 2, 3]], [2, 6], [3, 3], 6, 4, reduction="none",
                                          zero_infinity=True)),
    _ctc_check("zero_infinity, 'a a' in 2 frames impossible (needs a blank between), mean",
               lambda rng: ctc_quantities(rng, [[1, 1], [1, 2]], [2, 4], [2, 2], 4, 3, zero_infinity=True)),
    _ctc_check("finite differences, unnormalised log-probs, unequal lengths, repeats, sum",
               lambda rng: ctc_finite_differences(rng, [[1, 1, 2], [2, 0, 0]], [6, 4], [3, 1], 6, 3)),
    _ctc_check("finite differences, blank last, mean",
               lambda rng: ctc_finite_differences(rng, [[0, 1], [1, 1]], [5, 5], [2, 2], 5, 3, blank=2,
                                                  reduction="mean")),
    _beam_check(5, 3, 0),
    _beam_check(6, 4, 0),
    _beam_check(4, 4, 3),
    _beam_check(3, 2, 1),
    _beam_check(1, 4, 0),
    _beam_check(5, 3, 0, lm_weight=0.7),
    _beam_check(4, 4, 2, lm_weight=1.5, insertion_bonus=1.0),
    _greedy_check("repeats with and without a blank between, an all-blank sequence",
                  _greedy_by_hand),
    _greedy_check("random, lengths 7, 3 and 1, blank 0",
                  lambda rng: (log_softmax(rng.standard_normal((7, 3, 3))), 0, [7, 3, 1])),
    _greedy_check("random, blank last (3), batch 1",
                  lambda rng: (log_softmax(rng.standard_normal((6, 1, 4))), 3, [6])),
]
