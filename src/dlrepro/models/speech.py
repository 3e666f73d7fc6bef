"""Speech models on STFT magnitude frames (batch x frames x 513 bins).

Denoiser wraps a network with the input compression and the output rule:
- mask: the network's sigmoid output multiplies the noisy magnitude (what this project uses:
  a bounded target that keeps the noisy phase's scale and never invents energy);
- magnitude: a ReLU output is the clean magnitude itself (the write-ups' regression);
- ibm: the sigmoid output is the mask itself, trained against the ideal binary mask.
Networks: fc (per frame), cnn1d (per frame, convolving over frequency), cnn2d (a window of the
last `window` frames, convolving over time and frequency; causal, as the write-up's "20 frames
-> clean last frame"), lstm / bilstm (over the whole sequence).

SiameseEncoder: a GRU or BiLSTM over an utterance's log magnitudes, mean-pooled over its
frames; Siamese compares two utterances by the cosine of their embeddings.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

N_BINS = 513


def _mlp(sizes: list[int], dropout: float = 0.0) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
    return layers


class PerFrame(nn.Module):
    """Apply a frame network to every frame: (B, T, F) -> (B, T, out)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        b, t, f = x.shape
        return self.net(x.reshape(b * t, f)).reshape(b, t, -1)


class Conv1dFrame(nn.Module):
    """Per frame: convolutions over the 513 bins (conv -> ReLU -> max pool 2 each), dense, dropout, dense."""

    def __init__(self, channels: list[int], kernels: list[int], dense: int, dropout: float):
        super().__init__()
        layers, c_in, width = [], 1, N_BINS
        for c, k in zip(channels, kernels):
            layers += [nn.Conv1d(c_in, c, k), nn.ReLU(), nn.MaxPool1d(2)]
            c_in, width = c, (width - k + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), *_mlp([c_in * width, dense, N_BINS], dropout))

    def forward(self, x):
        return self.head(self.convs(x[:, None]))


class Conv2dWindow(nn.Module):
    """Each frame from the window of the last `window` frames (zero-padded at the start)."""

    def __init__(self, window: int, channels: list[int], kernels: list[int], dense: int, dropout: float):
        super().__init__()
        self.window = window
        layers, c_in, h, w = [], 1, window, N_BINS
        for c, k in zip(channels, kernels):
            layers += [nn.Conv2d(c_in, c, k), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, h, w = c, (h - k + 1) // 2, (w - k + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), *_mlp([c_in * h * w, dense, N_BINS], dropout))

    def forward(self, x):
        b, t, f = x.shape
        padded = nn.functional.pad(x, (0, 0, self.window - 1, 0))
        windows = padded.unfold(1, self.window, 1).permute(0, 1, 3, 2).reshape(b * t, 1, self.window, f)
        # newest frame first: where pooling drops rows at the end, it drops the oldest frames
        return self.head(self.convs(windows.flip(2))).reshape(b, t, -1)


class Recurrent(nn.Module):
    def __init__(self, hidden: int, layers: int, bidirectional: bool):
        super().__init__()
        self.rnn = nn.LSTM(N_BINS, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(hidden * (2 if bidirectional else 1), N_BINS)

    def forward(self, x):
        return self.out(self.rnn(x)[0])


def build_network(m: dict) -> nn.Module:
    kind = m["kind"]
    if kind == "fc":
        return PerFrame(nn.Sequential(*_mlp([N_BINS, *m["hidden"], N_BINS], m["dropout"])))
    if kind == "cnn1d":
        return PerFrame(Conv1dFrame(m["channels"], m["kernels"], m["dense"], m["dropout"]))
    if kind == "cnn2d":
        return Conv2dWindow(m["window"], m["channels"], m["kernels"], m["dense"], m["dropout"])
    if kind in ("lstm", "bilstm"):
        return Recurrent(m["hidden"][0], len(m["hidden"]), kind == "bilstm")
    raise ValueError(f"unknown denoiser kind {kind!r} (fc, cnn1d, cnn2d, lstm, bilstm)")


def describe_denoiser(m: dict) -> str:
    """One line saying what a denoiser section builds (for settings and tables)."""
    kind = m["kind"]
    if kind == "fc":
        net = f"FC 513 → {'→'.join(map(str, m['hidden']))} → 513"
    elif kind == "cnn1d":
        net = (f"per-frame 1D CNN {', '.join(f'conv {c}@1×{k} → pool 2' for c, k in zip(m['channels'], m['kernels']))}"
               f" → dense {m['dense']} → dropout {m['dropout']} → 513")
    elif kind == "cnn2d":
        net = (f"2D CNN on the last {m['window']} frames, "
               f"{', '.join(f'conv {c}@{k}×{k} → pool' for c, k in zip(m['channels'], m['kernels']))}"
               f" → dense {m['dense']} → dropout {m['dropout']} → 513")
    else:
        net = f"{'BiLSTM' if kind == 'bilstm' else 'LSTM'} {'→'.join(map(str, m['hidden']))} → 513"
    output = {"mask": "sigmoid mask × noisy magnitude", "magnitude": "ReLU magnitude regression",
              "ibm": "sigmoid mask against the ideal binary mask"}[m["output"]]
    return f"{net}; {output}; input log(1+|X|) standardised"


class Denoiser(nn.Module):
    """noisy magnitude (B, T, 513) -> estimated clean magnitude (or, for output ibm, the mask)."""

    def __init__(self, m: dict, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        if m["output"] not in ("mask", "magnitude", "ibm"):
            raise ValueError(f"unknown output {m['output']!r} (mask, magnitude, ibm)")
        self.output = m["output"]
        self.net = build_network(m)
        # per-bin statistics of log(1 + |X|) on the training frames
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    def forward(self, mag):
        z = self.net((torch.log1p(mag) - self.mean) / self.std)
        if self.output == "magnitude":
            return torch.relu(z)
        mask = torch.sigmoid(z)
        return mask if self.output == "ibm" else mask * mag


class SiameseEncoder(nn.Module):
    """Padded log-magnitude sequences (B, T, 513) and their lengths -> unit-norm embeddings."""

    def __init__(self, kind: str, hidden: int, layers: int, embedding: int, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        bidirectional = kind == "bilstm"
        rnn = {"gru": nn.GRU, "bilstm": nn.LSTM}[kind]
        self.rnn = rnn(N_BINS, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.proj = nn.Linear(hidden * (2 if bidirectional else 1), embedding)
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    def forward(self, mag, lengths):
        x = (torch.log1p(mag) - self.mean) / self.std
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=mag.shape[1])
        keep = (torch.arange(mag.shape[1], device=mag.device)[None] < lengths[:, None]).float()
        pooled = (out * keep[..., None]).sum(1) / lengths[:, None].float()
        return nn.functional.normalize(self.proj(pooled), dim=1)


class Siamese(nn.Module):
    """Tied-weight twins: pair indices (B, 2) -> two logits [0, a * cos + b] (softmax = sigmoid).

    The utterances' padded magnitudes and lengths are buffers that are not saved with the weights.
    """

    def __init__(self, encoder: SiameseEncoder, mags: torch.Tensor, lengths: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mags", mags, persistent=False)
        self.register_buffer("lengths", lengths, persistent=False)
        self.scale = nn.Parameter(torch.tensor(5.0))
        self.bias = nn.Parameter(torch.tensor(-2.0))

    def cosine(self, pairs, batch_size: int = 256):
        out = []
        for i in range(0, len(pairs), batch_size):  # bounded memory for large evaluation batches
            flat = pairs[i:i + batch_size].reshape(-1)
            emb = self.encoder(self.mags[flat], self.lengths[flat]).reshape(-1, 2, self.encoder.proj.out_features)
            out.append((emb[:, 0] * emb[:, 1]).sum(1))
        return torch.cat(out)

    def forward(self, pairs):
        logit = self.scale * self.cosine(pairs) + self.bias
        return torch.stack([torch.zeros_like(logit), logit], 1)

    def embed(self, utterances: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        return torch.cat([self.encoder(self.mags[utterances[i:i + batch_size]], self.lengths[utterances[i:i + batch_size]])
                          for i in range(0, len(utterances), batch_size)])


class Continuation(nn.Module):
    """The first half of a clip (B, K, 513 magnitudes) -> its second half (B, K, 513), non-negative.

    fc: the flattened half through dense layers; cnn: 3x3 convolutions (ReLU, 2x max pooling) over
    time and frequency, then a dense layer; both end in a dense layer to K x 513 and softplus.
    """

    def __init__(self, m: dict, frames: int, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.frames = frames
        if m["kind"] == "fc":
            self.net = nn.Sequential(nn.Flatten(), *_mlp([frames * N_BINS, *m["hidden"], frames * N_BINS]))
        elif m["kind"] == "cnn":
            layers, c_in, h, w = [], 1, frames, N_BINS
            for c in m["channels"]:
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                c_in, h, w = c, h // 2, w // 2
            self.net = nn.Sequential(nn.Unflatten(1, (1, frames)), *layers, nn.Flatten(),
                                     *_mlp([c_in * h * w, m["dense"], frames * N_BINS]))
        else:
            raise ValueError(f"unknown continuation kind {m['kind']!r} (fc, cnn)")
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    def forward(self, first_half):
        z = self.net((torch.log1p(first_half) - self.mean) / self.std)
        return nn.functional.softplus(z).reshape(len(first_half), self.frames, N_BINS)
