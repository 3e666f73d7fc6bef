"""Decoding CTC outputs: greedy (best path) and prefix beam search.

A path (one label or blank per frame) collapses to a sequence by merging repeated labels and then
dropping blanks; a sequence's probability is the sum over every path that collapses to it.
Greedy decoding collapses the single most probable path, which need not be the most probable
sequence; prefix beam search sums the paths of each prefix it keeps and finds the most probable
sequence when its beam is wide enough to keep every prefix. Beam search can also weigh each prefix
by a label n-gram model (shallow fusion), which greedy decoding cannot: a path's frames do not know
the labels before them.
"""
from collections import defaultdict
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


class NGram:
    """A label n-gram model with interpolated Witten-Bell smoothing, fitted on label sequences.

    P(c | h) = λ_h · count(h, c) / count(h) + (1 − λ_h) · P(c | h shortened by one), with
    λ_h = count(h) / (count(h) + the number of distinct labels seen after h); the recursion ends
    at the uniform distribution. The blank stands for both sequence boundaries: contexts start
    padded with it, and log_probs(prefix)[blank] is the probability that the sequence ends there.
    Witten-Bell needs no tuning (unlike add-k) and gives every label a non-zero probability.
    """

    def __init__(self, sequences, order: int, classes: int, blank: int = 0):
        if order < 1:
            raise ValueError(f"NGram: order {order}, expected at least 1")
        if not 0 <= blank < classes:
            raise ValueError(f"NGram: blank {blank} is not one of {classes} classes")
        self.order, self.classes, self.blank = order, classes, blank
        counts: dict[tuple[int, ...], np.ndarray] = defaultdict(lambda: np.zeros(classes))
        for sequence in sequences:
            padded = [blank] * (order - 1) + [int(c) for c in sequence] + [blank]
            if any(c == blank or not 0 <= c < classes for c in padded[order - 1:-1]):
                raise ValueError(f"NGram: a sequence holds a label outside 0..{classes - 1} "
                                 f"or the blank {blank}: {list(sequence)}")
            for i in range(order - 1, len(padded)):
                for n in range(order):  # every context length up to order − 1
                    counts[tuple(padded[i - n:i])][padded[i]] += 1
        self._counts = dict(counts)
        self._rows: dict[tuple[int, ...], np.ndarray] = {}

    def log_probs(self, prefix: tuple[int, ...]) -> np.ndarray:
        """(classes,) log P(next label | the prefix's last order − 1 labels); [blank]: the end."""
        context = ((self.blank,) * (self.order - 1) + tuple(prefix))[len(prefix):] if self.order > 1 else ()
        if context not in self._rows:
            p = np.full(self.classes, 1.0 / self.classes)
            for n in range(len(context) + 1):  # shortest context first, each level over the one below
                seen = self._counts.get(context[len(context) - n:])
                if seen is not None:
                    total, types = seen.sum(), np.count_nonzero(seen)
                    p = (seen + types * p) / (total + types)
            self._rows[context] = np.log(p)
        return self._rows[context]


class BeamResult(NamedTuple):
    sequence: tuple[int, ...]                        # the best sequence the beam found
    log_prob: float                                  # its score: log-probability summed over the beam's paths
    beam: list[tuple[tuple[int, ...], float]]       # every kept (sequence, score), best first


def beam_search(log_probs: np.ndarray, beam_width: int, blank: int = 0, lm: NGram | None = None,
                lm_weight: float = 0.0, insertion_bonus: float = 0.0) -> BeamResult:
    """Prefix beam search over one sequence's log_probs (T, C).

    Each prefix keeps two log-probabilities: of its paths ending in a blank and of those ending in
    its last label, because a repeat of that label extends the prefix only after a blank (a, −, a
    is "a a") but merges into it otherwise (a, a is "a"). Extensions that reach the same prefix
    are summed, and the beam_width most probable prefixes are kept after every frame (ties broken
    by the prefix, so the result is deterministic).

    Vectorised over the beam and the classes: a frame scores every prefix staying as it is (K) and
    every prefix grown by every label (K × C) in a few array operations. Two candidates can only
    reach the same prefix when an extension p + (c,) is itself a kept prefix (its own stay); those
    pairs are found by looking each kept prefix's parent up among the kept prefixes (K lookups), and
    summed. Only the kept prefixes become tuples.

    With a label n-gram `lm` (shallow fusion), prefixes are ranked by their log-probability plus
    lm_weight × log P_lm(prefix) + insertion_bonus × its length, and at the end also by
    lm_weight × log P_lm(end | prefix). The n-gram term depends on the prefix alone, so the paths'
    sums stay the acoustic ones and a merge needs no rescoring. The scores returned are these.
    """
    if lm is None and (lm_weight or insertion_bonus):
        raise ValueError("beam_search: lm_weight and insertion_bonus need an lm")
    if log_probs.ndim != 2:
        raise ValueError(f"beam_search: log_probs of shape {log_probs.shape}, expected (T, C)")
    if beam_width < 1:
        raise ValueError(f"beam_search: beam_width {beam_width}, expected at least 1")
    _check_blank("beam_search", blank, log_probs)
    log_probs = np.asarray(log_probs, dtype=np.float64)
    classes = log_probs.shape[1]
    if lm is not None and (lm.classes, lm.blank) != (classes, blank):
        raise ValueError(f"beam_search: an lm of {lm.classes} classes with blank {lm.blank}, "
                         f"log_probs of {classes} with blank {blank}")

    def lm_terms(prefixes: list[tuple[int, ...]]) -> np.ndarray:
        """(K, C): lm_weight × log P_lm(next | prefix) (next = blank: the end), zero without an lm."""
        if lm is None:
            return np.zeros((len(prefixes), classes))
        return lm_weight * np.stack([lm.log_probs(p) for p in prefixes])

    not_label = np.arange(classes) == blank
    # The beam: prefixes, and per prefix log P(paths ending in blank), log P(paths ending in its last label).
    prefixes: list[tuple[int, ...]] = [()]
    ends_blank, ends_label = np.zeros(1), np.full(1, -np.inf)
    bonus = np.zeros(1)  # per prefix: lm_weight × log P_lm(prefix) + insertion_bonus × its length
    for frame in log_probs:
        kept = len(prefixes)
        last = np.array([p[-1] if p else blank for p in prefixes])
        has_last = np.array([bool(p) for p in prefixes])
        either = np.logaddexp(ends_blank, ends_label)
        stay_blank = either + frame[blank]
        stay_label = np.where(has_last, ends_label + frame[last], -np.inf)
        # grow[k, c]: prefix k extended by label c, from any path, except its last label only after a blank.
        grow = either[:, None] + frame[None, :]
        grow[:, not_label] = -np.inf
        rows = np.flatnonzero(has_last)
        grow[rows, last[rows]] = ends_blank[rows] + frame[last[rows]]
        # An extension that is a kept prefix merges into that prefix's stay.
        index = {p: k for k, p in enumerate(prefixes)}
        merges = [(j, index[p[:-1]], p[-1]) for j, p in enumerate(prefixes) if p and p[:-1] in index]
        if merges:
            into, parent, label = np.array(merges).T
            stay_label[into] = np.logaddexp(stay_label[into], grow[parent, label])
            grow[parent, label] = -np.inf
        new_blank = np.concatenate([stay_blank, np.full(kept * classes, -np.inf)])
        new_label = np.concatenate([stay_label, grow.ravel()])
        new_bonus = np.concatenate([bonus, (bonus[:, None] + lm_terms(prefixes) + insertion_bonus).ravel()])
        scores = np.logaddexp(new_blank, new_label) + new_bonus
        # Prefixes no path reaches yet (a repeat with no blank before it) have probability 0: not kept.
        finite = np.flatnonzero(scores > -np.inf)
        order = finite[np.argsort(-scores[finite], kind="stable")]
        if len(order) > beam_width:  # everything tied with the last kept score competes, by prefix
            order = order[scores[order] >= scores[order[beam_width - 1]]]

        def prefix_of(i: int) -> tuple[int, ...]:
            return prefixes[i] if i < kept else prefixes[(i - kept) // classes] + ((i - kept) % classes,)

        scored = sorted(((float(scores[i]), prefix_of(int(i)), int(i)) for i in order),
                        key=lambda item: (-item[0], item[1]))[:beam_width]
        chosen = np.array([i for _, _, i in scored], dtype=np.intp)
        prefixes = [p for _, p, _ in scored]
        ends_blank, ends_label, bonus = new_blank[chosen], new_label[chosen], new_bonus[chosen]
    final = np.logaddexp(ends_blank, ends_label) + bonus + lm_terms(prefixes)[:, blank]
    ranked = sorted(((p, float(f)) for p, f in zip(prefixes, final)), key=lambda item: (-item[1], item[0]))
    return BeamResult(ranked[0][0], ranked[0][1], ranked)


def edit_distance(reference, hypothesis) -> int:
    """Levenshtein distance between two sequences: the fewest insertions, deletions and
    substitutions that turn one into the other (each costs 1).

    The dynamic programme runs one row per element of `reference`, each row vectorised: with
    t[j] = min(above[j] + 1, above[j−1] + substitution cost), the row is
    d[j] = min over k ≤ j of t[k] + (j − k) (insertions along the row), a running minimum of t − j.
    """
    ref, hyp = np.asarray(list(reference)), np.asarray(list(hypothesis))  # list(): a string is its characters
    columns = np.arange(len(hyp) + 1)
    row = columns.copy()
    for i, item in enumerate(ref, start=1):
        t = np.empty_like(row)
        t[0] = i
        t[1:] = np.minimum(row[1:] + 1, row[:-1] + (hyp != item))
        row = np.minimum.accumulate(t - columns) + columns
    return int(row[-1])


def error_rate(references, hypotheses) -> tuple[np.ndarray, float]:
    """Each pair's edit distance and the error rate over all pairs: total edits over the total
    reference length (a phone error rate for phone sequences)."""
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(f"error_rate: {len(references)} references but {len(hypotheses)} hypotheses")
    distances = np.array([edit_distance(r, h) for r, h in zip(references, hypotheses)], dtype=np.int64)
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("error_rate: every reference is empty")
    return distances, float(distances.sum() / total)
