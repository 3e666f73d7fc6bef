"""Verification scores: ROC curve, AUC, equal error rate, and the best accuracy threshold.

Shared by every family that scores pairs (siamese speakers, faces); families may not import
each other, so these live here.
"""

from __future__ import annotations

import numpy as np


def roc_eer(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """ROC curve, AUC and equal error rate (where the false positive and false negative rates meet)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.argmin(np.abs(fnr - fpr)))
    # interpolate between the two ROC points around the crossing
    j = i + 1 if i + 1 < len(fpr) and (fnr[i] - fpr[i]) > 0 else max(i - 1, 0)
    d_i, d_j = fnr[i] - fpr[i], fnr[j] - fpr[j]
    eer = float(fpr[i] if d_i == d_j else fpr[i] + (fpr[j] - fpr[i]) * d_i / (d_i - d_j))
    return fpr, tpr, float(roc_auc_score(labels, scores)), eer


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold t (a midpoint between sorted scores) maximising the accuracy of score > t."""
    order = np.argsort(scores)
    s, y = scores[order], labels[order].astype(np.int64)
    # accuracy when the k lowest scores are called negative: negatives among them + positives above
    correct = np.concatenate([[0], np.cumsum(1 - y)]) + (y.sum() - np.concatenate([[0], np.cumsum(y)]))
    k = int(np.argmax(correct))
    t = s[0] - 1 if k == 0 else s[-1] + 1 if k == len(s) else (s[k - 1] + s[k]) / 2
    return float(t), float(correct[k] / len(s))
