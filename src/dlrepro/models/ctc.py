"""Sequence-to-phones models trained with CTC: log-mel frames in, per-frame log-probabilities of
the phones and the blank (class 0) out (REFERENCE.md ctc-phoneme).

Inputs are normalised per band by the training set's mean and deviation, then (normalise:
sequence) by the sequence's own, over its frames (cepstral mean and variance normalisation: it
removes a speaker's or a microphone's fixed colouring). A conv front end (Conv1d over time, 40
bands in: BatchNorm, ReLU; strided as params say) feeds a stack of recurrent layers (LSTM or GRU,
bidirectional or not), each over packed sequences, so padding never enters a recurrence. The
pyramidal option (Listen, Attend and Spell's pBLSTM) joins each pair of adjacent frames before
every recurrent layer after the first, halving the frame rate per layer. Between conv layers,
padded frames are zeroed, so a sequence's outputs do not depend on what it is batched with. A
linear layer maps to phones + blank.

Augmentation, in training mode only: each sequence's mel axis stretched by a random factor in
[1 - freq_warp, 1 + freq_warp] (vocal tract length perturbation: a new voice per draw), then
SpecAugment (Park et al. 2019): `time_masks` bands of up to `time_width` frames and `freq_masks`
bands of up to `freq_width` mel bands set to 0 (the normalised mean), drawn per sequence and
inside its length, for the whole batch at once from the model's generator.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

BLANK = 0


def spec_augment(x: torch.Tensor, lengths: torch.Tensor, s: dict, generator: torch.Generator) -> torch.Tensor:
    """x (B, T, F) masked (a new tensor); s: time_masks, time_width, freq_masks, freq_width."""
    batch, steps, bands = x.shape
    keep = torch.ones_like(x, dtype=torch.bool)

    def bands_of(count: int, width: int, extent: torch.Tensor, size: int) -> torch.Tensor:
        """(B, size) True where one of count random bands [start, start + w), w ≤ width, covers."""
        if count == 0 or width == 0:
            return torch.zeros(batch, size, dtype=torch.bool, device=x.device)
        u = torch.rand(batch, count, 2, generator=generator, device=x.device)
        w = (u[..., 0] * (width + 1)).long().clamp(max=width)
        w = torch.minimum(w, extent[:, None])
        start = (u[..., 1] * (extent[:, None] - w + 1).float()).long()
        pos = torch.arange(size, device=x.device)[None, None]
        return ((pos >= start[..., None]) & (pos < (start + w)[..., None])).any(1)

    keep &= ~bands_of(s["time_masks"], s["time_width"], lengths, steps)[:, :, None]
    keep &= ~bands_of(s["freq_masks"], s["freq_width"], torch.full_like(lengths, bands), bands)[:, None, :]
    return x * keep


def freq_warp(x: torch.Tensor, amount: float, generator: torch.Generator) -> torch.Tensor:
    """x (B, T, F) with each sequence's band axis stretched by a factor drawn in [1 - amount, 1 + amount]
    (band b takes the value at b / factor, linearly interpolated; the top band repeats past the edge)."""
    batch, steps, bands = x.shape
    factor = 1 + amount * (2 * torch.rand(batch, 1, generator=generator, device=x.device) - 1)
    source = (torch.arange(bands, device=x.device)[None] / factor).clamp(max=bands - 1)
    low = source.floor().long()
    high = (low + 1).clamp(max=bands - 1)
    frac = (source - low)[:, None, :].to(x.dtype)
    return (torch.gather(x, 2, low[:, None].expand(-1, steps, -1)) * (1 - frac)
            + torch.gather(x, 2, high[:, None].expand(-1, steps, -1)) * frac)


def conv_lengths(lengths: torch.Tensor, kernels: list[int], strides: list[int]) -> torch.Tensor:
    """Frames after each Conv1d(kernel k, stride s, padding k // 2)."""
    for k, s in zip(kernels, strides):
        lengths = (lengths + 2 * (k // 2) - k) // s + 1
    return lengths


class CTCModel(nn.Module):
    """Padded normalised log-mel frames (B, T, 40) and lengths -> log-probabilities (B, T', classes)
    and output lengths T'."""

    def __init__(self, m: dict, bands: int, classes: int, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        f = m["front"]
        self.kernels, self.strides = list(f["kernels"]), list(f["strides"])
        convs, width = [], bands
        for channels, k, s in zip(f["channels"], self.kernels, self.strides):
            convs.append(nn.Sequential(nn.Conv1d(width, channels, k, stride=s, padding=k // 2),
                                       nn.BatchNorm1d(channels), nn.ReLU()))
            width = channels
        self.front = nn.ModuleList(convs)
        cell = {"lstm": nn.LSTM, "gru": nn.GRU}[m["kind"]]
        directions = 2 if m["bidirectional"] else 1
        self.pyramidal = bool(m["pyramidal"])
        self.rnns = nn.ModuleList()
        for layer in range(m["layers"]):
            size = width if layer == 0 else directions * m["hidden"] * (2 if self.pyramidal else 1)
            self.rnns.append(cell(size, m["hidden"], batch_first=True, bidirectional=m["bidirectional"]))
        self.dropout = nn.Dropout(m["dropout"])
        self.out = nn.Linear(directions * m["hidden"], classes)
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())
        self.per_sequence = m["normalise"] == "sequence"
        self.augment: dict | None = None
        self.generator: torch.Generator | None = None

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        lengths = conv_lengths(lengths, self.kernels, self.strides)
        return lengths // 2 ** (len(self.rnns) - 1) if self.pyramidal else lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inside = (torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None])[..., None]
        augment = self.training and self.augment is not None
        if augment and self.augment["freq_warp"]:
            x = freq_warp(x, self.augment["freq_warp"], self.generator)
        x = (x - self.mean) / self.std
        if self.per_sequence:  # each band's mean and spread over the sequence's own frames
            count = lengths[:, None, None].to(x.dtype)
            mean = (x * inside).sum(1, keepdim=True) / count
            std = ((((x - mean) * inside) ** 2).sum(1, keepdim=True) / count).sqrt() + 1e-3
            x = (x - mean) / std
        x = x * inside
        if augment:
            x = spec_augment(x, lengths, self.augment, self.generator)
        x = x.transpose(1, 2)  # (B, F, T) for Conv1d
        for conv, k, s in zip(self.front, self.kernels, self.strides):
            x = conv(x)
            lengths = conv_lengths(lengths, [k], [s])
            x = x * (torch.arange(x.shape[2], device=x.device)[None] < lengths[:, None])[:, None]
        x = x.transpose(1, 2)
        for layer, rnn in enumerate(self.rnns):
            if layer and self.pyramidal:  # join frame pairs: (B, T, H) -> (B, T // 2, 2H)
                x = x[:, :x.shape[1] // 2 * 2].reshape(x.shape[0], x.shape[1] // 2, 2 * x.shape[2])
                lengths = lengths // 2
            if layer:
                x = self.dropout(x)
            packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        return torch.log_softmax(self.out(self.dropout(x)).float(), dim=-1), lengths


def describe(m: dict, s: dict) -> str:
    """One line: front end, recurrence, augmentation."""
    f = m["front"]
    rate = 10 * int(torch.tensor(f["strides"]).prod()) * (2 ** (m["layers"] - 1) if m["pyramidal"] else 1)
    rnn = f"{'Bi' if m['bidirectional'] else ''}{m['kind'].upper()} {m['hidden']}×{m['layers']}"
    parts = ([f"band axis warped by up to ±{s['freq_warp']:g}"] if s["freq_warp"] else []) + \
        ([f"SpecAugment {s['time_masks']}×≤{s['time_width']} frames, {s['freq_masks']}×≤{s['freq_width']} bands"]
         if s["time_masks"] or s["freq_masks"] else [])
    aug = ", ".join(parts) or "no augmentation"
    return (f"conv {'-'.join(map(str, f['channels']))} (strides {'-'.join(map(str, f['strides']))}) → "
            f"{'pyramidal ' if m['pyramidal'] else ''}{rnn} → linear; outputs every {rate} ms; {aug}")
