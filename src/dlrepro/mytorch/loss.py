"""Losses: `forward(prediction, target) -> float`, then `backward()` gives the loss's gradient
with respect to the prediction (the first gradient a model's `backward` receives)."""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis; subtracting each row's maximum first, so logits in the
    thousands neither overflow nor lose the small differences between them."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(grad_log_probs: np.ndarray, log_probs: np.ndarray) -> np.ndarray:
    """dL/dlogits from dL/dlog_probs, where log_probs = log_softmax(logits) over the last axis."""
    return grad_log_probs - np.exp(log_probs) * grad_log_probs.sum(axis=-1, keepdims=True)


class Loss:
    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> float:
        return self.forward(prediction, target)

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError


class SoftmaxCrossEntropy(Loss):
    """Mean over the batch of −log softmax(logits)[target], as torch.nn.CrossEntropyLoss with integer
    class targets. Logits (N, C), targets (N,) in [0, C)."""

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        logits, target = np.asarray(logits), np.asarray(target)
        if logits.ndim != 2 or target.shape != logits.shape[:1]:
            raise ValueError(f"SoftmaxCrossEntropy: logits shape {logits.shape} and target shape "
                             f"{target.shape} are not (N, C) and (N,)")
        if not np.issubdtype(target.dtype, np.integer):
            raise ValueError(f"SoftmaxCrossEntropy: target dtype {target.dtype} is not an integer class index")
        n, classes = logits.shape
        if target.size and (target.min() < 0 or target.max() >= classes):
            raise ValueError(f"SoftmaxCrossEntropy: targets must lie in [0, {classes}), got "
                             f"{target.min()}..{target.max()}")
        log_probs = log_softmax(logits)
        self.probs, self.target = np.exp(log_probs), target
        return float(-log_probs[np.arange(n), target].mean())

    def backward(self) -> np.ndarray:
        n = self.probs.shape[0]
        grad = self.probs.copy()
        grad[np.arange(n), self.target] -= 1.0
        return grad / n


class MSELoss(Loss):
    """Mean over every element of (prediction − target)², as torch.nn.MSELoss. The shapes must be
    equal: torch would broadcast (N, 1) against (N,) into (N, N) with only a warning."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        prediction, target = np.asarray(prediction), np.asarray(target)
        if prediction.shape != target.shape:
            raise ValueError(f"MSELoss: prediction shape {prediction.shape} and target shape "
                             f"{target.shape} differ")
        self.diff = prediction - target
        return float(np.mean(self.diff * self.diff))

    def backward(self) -> np.ndarray:
        return 2.0 * self.diff / self.diff.size
