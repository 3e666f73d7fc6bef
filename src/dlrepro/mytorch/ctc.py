"""Connectionist temporal classification loss (Graves et al. 2006), as torch.nn.CTCLoss.

Everything runs in log space over the extended label sequence (blank, l1, blank, l2, ..., blank),
vectorised over the batch and the extended labels; only time is a loop, because α and β are
recursions in time. The gradient is the true one with respect to the log-probabilities taken as
free inputs; torch's folds a log-softmax into it instead (it returns exp(log_probs) − posterior,
right only for normalised inputs), so the proof compares the two through a log-softmax, on logits.
"""
import numpy as np

from dlrepro.mytorch.module import Module

REDUCTIONS = ("mean", "sum", "none")


def _shift(values: np.ndarray, by: int) -> np.ndarray:
    """values[..., s - by] at s along the last axis (by > 0: from the left, by < 0: from the right),
    -inf (log 0) where s - by falls outside."""
    shifted = np.full_like(values, -np.inf)
    if by >= 0:
        shifted[..., by:] = values[..., :values.shape[-1] - by]
    else:
        shifted[..., :by] = values[..., -by:]
    return shifted


class CTCLoss(Module):
    """CTC loss of log-probabilities (T, N, C) against padded targets (N, S).

    `forward(log_probs, targets, input_lengths, target_lengths)` uses sequence n's first
    input_lengths[n] frames and first target_lengths[n] labels (which may not be `blank`).
    Reductions as torch: "none" gives each sequence's −log p (N,), "sum" their sum, "mean" each
    divided by its target length (at least 1), then averaged over the batch. A target that no
    alignment fits (longer than its input, counting a blank between repeated labels) has
    probability 0: its loss is inf and its gradient nan, as torch's, or with `zero_infinity`
    both are 0.
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        if reduction not in REDUCTIONS:
            raise ValueError(f"CTCLoss: reduction {reduction!r}, expected one of {REDUCTIONS}")
        self.blank, self.reduction, self.zero_infinity = blank, reduction, zero_infinity

    def _extended(self, log_probs, targets, input_lengths, target_lengths):
        """Checks the inputs; returns the extended labels (N, 2S+1) with blank in the padding, and
        input and target lengths as integer arrays."""
        if log_probs.ndim != 3:
            raise ValueError(f"CTCLoss: log_probs of shape {log_probs.shape}, expected (T, N, C)")
        steps, batch, classes = log_probs.shape
        if not 0 <= self.blank < classes:
            raise ValueError(f"CTCLoss: blank {self.blank} is not a class of log_probs of shape {log_probs.shape}")
        targets = np.asarray(targets)
        input_lengths, target_lengths = np.asarray(input_lengths), np.asarray(target_lengths)
        if targets.ndim != 2 or targets.shape[0] != batch:
            raise ValueError(f"CTCLoss: targets of shape {targets.shape}, expected ({batch}, S) padded")
        for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
            if lengths.shape != (batch,):
                raise ValueError(f"CTCLoss: {name} of shape {lengths.shape}, expected ({batch},)")
        if input_lengths.min() < 1 or input_lengths.max() > steps:
            raise ValueError(f"CTCLoss: input_lengths {input_lengths.tolist()} outside 1..{steps}")
        if target_lengths.min() < 0 or target_lengths.max() > targets.shape[1]:
            raise ValueError(f"CTCLoss: target_lengths {target_lengths.tolist()} outside 0..{targets.shape[1]}")
        used = np.arange(targets.shape[1]) < target_lengths[:, None]
        labels = targets[used]
        if labels.size and (labels.min() < 0 or labels.max() >= classes or (labels == self.blank).any()):
            raise ValueError(f"CTCLoss: target labels must be classes 0..{classes - 1} other than blank {self.blank}")
        extended = np.full((batch, 2 * targets.shape[1] + 1), self.blank, dtype=np.intp)
        extended[:, 1::2] = np.where(used, targets, self.blank)
        return extended, input_lengths.astype(np.intp), target_lengths.astype(np.intp)

    def forward(self, log_probs: np.ndarray, targets: np.ndarray, input_lengths, target_lengths) -> np.ndarray:
        extended, input_lengths, target_lengths = self._extended(log_probs, targets, input_lengths, target_lengths)
        steps, batch, classes = log_probs.shape
        width = extended.shape[1]
        positions = np.arange(width)
        valid = positions < 2 * target_lengths[:, None] + 1                       # (N, S')
        # A path may skip the blank before label s only when it differs from label s − 2.
        can_skip = (positions >= 2) & (extended != self.blank) & (extended != np.roll(extended, 2, axis=1))
        emit = np.where(valid, log_probs[:, np.arange(batch)[:, None], extended], -np.inf)   # (T, N, S')

        # α_t(s): log-probability of the first t+1 frames ending in extended label s (its emission included).
        alpha = np.full((steps, batch, width), -np.inf, dtype=log_probs.dtype)
        alpha[0, :, :2] = emit[0, :, :2]
        for t in range(1, steps):
            previous = alpha[t - 1]
            reach = np.logaddexp(previous, _shift(previous, 1))
            reach = np.logaddexp(reach, np.where(can_skip, _shift(previous, 2), -np.inf))
            alpha[t] = reach + emit[t]

        # β_t(s): log-probability of frames t+1 .. T_n−1 given label s at frame t (its emission excluded),
        # so that α_t(s) + β_t(s) is the log-probability of every path through s at t.
        last, lengths_column = input_lengths - 1, input_lengths[:, None]
        end = positions >= 2 * target_lengths[:, None] - 1
        final = np.where(valid & end, 0.0, -np.inf).astype(log_probs.dtype)
        beta = np.full((steps, batch, width), -np.inf, dtype=log_probs.dtype)
        for t in reversed(range(steps)):
            if t + 1 < steps:
                onward = beta[t + 1] + emit[t + 1]
                # From s to s, s + 1, or s + 2 where label s + 2 may be reached by skipping a blank.
                recursed = np.logaddexp(onward, _shift(onward, -1))
                recursed = np.logaddexp(recursed, _shift(np.where(can_skip, onward, -np.inf), -2))
            else:
                recursed = np.full((batch, width), -np.inf, dtype=log_probs.dtype)
            beta[t] = np.where(t == lengths_column - 1, final, np.where(t < lengths_column - 1, recursed, -np.inf))

        log_likelihood = np.logaddexp.reduce(np.where(valid & end, alpha[last, np.arange(batch)], -np.inf), axis=1)
        losses = -log_likelihood
        infinite = np.isinf(losses)
        if self.zero_infinity:
            losses = np.where(infinite, 0.0, losses).astype(log_probs.dtype)
        with np.errstate(invalid="ignore"):  # an impossible target: −inf − (−inf), nan as torch's gradient
            posterior = np.exp(alpha + beta - log_likelihood[:, None])
        self._cache = (posterior, extended, valid, infinite, target_lengths, classes)
        if self.reduction == "none":
            return losses
        if self.reduction == "sum":
            return losses.sum()
        return (losses / np.maximum(target_lengths, 1)).mean()

    def backward(self, grad: np.ndarray | float | None = None) -> np.ndarray:
        """dL/dlog_probs (T, N, C) for the upstream gradient of the loss (default 1; shape (N,) for
        reduction "none"). Frames past an input's length get 0."""
        posterior, extended, valid, infinite, target_lengths, classes = self._cache
        batch = posterior.shape[1]
        upstream = np.asarray(1.0 if grad is None else grad, dtype=posterior.dtype)
        if self.reduction == "none":
            weight = np.broadcast_to(upstream, (batch,))
        elif self.reduction == "sum":
            weight = np.full(batch, upstream)
        else:
            weight = upstream / np.maximum(target_lengths, 1) / batch
        # d(−log p)/d log y_t(k) = −(sum over extended labels s equal to k of the posterior at (t, s)).
        one_hot = (extended[:, :, None] == np.arange(classes)) & valid[:, :, None]
        grad_log_probs = -np.einsum("tns,nsc->tnc", posterior, one_hot.astype(posterior.dtype)) * weight[:, None]
        if self.zero_infinity:
            grad_log_probs[:, infinite] = 0.0
        return grad_log_probs
