"""Decoding CTC outputs: greedy (best path) and prefix beam search.

A path (one label or blank per frame) collapses to a sequence by merging repeated labels and then
dropping blanks; a sequence's probability is the sum over every path that collapses to it.
Greedy decoding collapses the single most probable path, which need not be the most probable
sequence; prefix beam search sums the paths of each prefix it keeps and finds the most probable
sequence when its beam is wide enough to keep every prefix.
"""
from typing import NamedTuple

import numpy as np


def _check_blank(name: str, blank: int, log_probs: np.ndarray) -> None:
    if not 0 <= blank < log_probs.shape[-1]:
        raise ValueError(f"{name}: blank {blank} is not a class of log_probs of shape {log_probs.shape}")


def greedy(log_probs: np.ndarray, blank: int = 0, lengths=None) -> list[list[int]]:
    """log_probs (T, N, C) -> for each sequence, its per-frame argmax with repeats collapsed and
    blanks dropped, over its first lengths[n] frames (all T by default)."""
    if log_probs.ndim != 3:
        raise ValueError(f"greedy: log_probs of shape {log_probs.shape}, expected (T, N, C)")
    _check_blank("greedy", blank, log_probs)
    steps, batch, _ = log_probs.shape
    best = log_probs.argmax(axis=2)                                      # (T, N)
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    repeat = np.zeros_like(best, dtype=bool)
    repeat[1:] = best[1:] == best[:-1]
    keep = ~repeat & (best != blank) & (np.arange(steps)[:, None] < lengths)
    # The selection is vectorised; only splitting the kept labels into ragged lists loops.
    return [best[keep[:, n], n].tolist() for n in range(batch)]


class BeamResult(NamedTuple):
    sequence: tuple[int, ...]                        # the most probable sequence the beam found
    log_prob: float                                  # its log-probability summed over the beam's paths
    beam: list[tuple[tuple[int, ...], float]]       # every kept (sequence, log-probability), best first


def beam_search(log_probs: np.ndarray, beam_width: int, blank: int = 0) -> BeamResult:
    """Prefix beam search over one sequence's log_probs (T, C).

    Each prefix keeps two log-probabilities: of its paths ending in a blank and of those ending in
    its last label, because a repeat of that label extends the prefix only after a blank (a, −, a
    is "a a") but merges into it otherwise (a, a is "a"). Extensions that reach the same prefix
    are summed, and the beam_width most probable prefixes are kept after every frame (ties broken
    by the prefix, so the result is deterministic).
    """
    if log_probs.ndim != 2:
        raise ValueError(f"beam_search: log_probs of shape {log_probs.shape}, expected (T, C)")
    if beam_width < 1:
        raise ValueError(f"beam_search: beam_width {beam_width}, expected at least 1")
    _check_blank("beam_search", blank, log_probs)
    classes = log_probs.shape[1]
    labels = np.array([c for c in range(classes) if c != blank])
    # prefix -> (log P(paths ending in blank), log P(paths ending in the prefix's last label))
    beam: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -np.inf)}
    for frame in log_probs:
        frame = np.asarray(frame, dtype=np.float64)
        grown: dict[tuple[int, ...], list[float]] = {}

        def add(prefix, ends_blank: float, ends_label: float) -> None:
            entry = grown.setdefault(prefix, [-np.inf, -np.inf])
            entry[0] = np.logaddexp(entry[0], ends_blank)
            entry[1] = np.logaddexp(entry[1], ends_label)

        for prefix, (ends_blank, ends_label) in beam.items():
            either = np.logaddexp(ends_blank, ends_label)
            stay_label = ends_label + frame[prefix[-1]] if prefix else -np.inf
            add(prefix, either + frame[blank], stay_label)
            # Every label extends the prefix from any path, except its last label, only after a blank.
            extend = either + frame[labels]
            if prefix:
                extend[labels == prefix[-1]] = ends_blank + frame[prefix[-1]]
            for label, log_p in zip(labels.tolist(), extend.tolist()):
                add(prefix + (label,), -np.inf, log_p)
        # Prefixes no path reaches yet (a repeat with no blank before it) have probability 0: not kept.
        scores = ((float(np.logaddexp(*p)), prefix) for prefix, p in grown.items())
        scored = sorted((item for item in scores if item[0] > -np.inf),
                        key=lambda item: (-item[0], item[1]))[:beam_width]
        beam = {prefix: tuple(grown[prefix]) for _, prefix in scored}
    ranked = [(prefix, score) for score, prefix in scored] if len(log_probs) else [((), 0.0)]
    return BeamResult(ranked[0][0], ranked[0][1], ranked)
