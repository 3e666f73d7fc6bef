"""A compressed MLP as a file: what is stored is what is measured and what is evaluated.

encode() turns an MLP whose layers are dense (nn.Linear) or factorised (FactorisedLinear) into
plain values and tensors; save() writes them with torch.save; load() reads them back with
weights_only=True; decode() rebuilds the module. Each weight matrix is kept in the smallest of
three layouts, given its zeros:

  dense  every entry, row-major
  mask   one bit per entry (numpy packbits) and the nonzero values, row-major
  csr    per row the count of nonzeros, their column indices (int16 when they fit) and values

Values are float32, or int8 with one float32 scale per row (symmetric: scale = max |row| / 127).
Biases stay float32.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlrepro.io import atomic_path
from dlrepro.models.lowrank import FactorisedLinear
from dlrepro.models.mlp import MLP

FORMAT = 1
LAYOUTS = ("dense", "mask", "csr")


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: (int8 values, float32 scale per row); weight ~ values * scale."""
    amax = weight.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    return torch.round(weight / scale[:, None]).clamp_(-127, 127).to(torch.int8), scale.float()


def _index_dtype(cols: int) -> torch.dtype:
    return torch.int16 if cols < 2 ** 15 else torch.int32


def layout_bytes(rows: int, cols: int, nnz: int, value_bytes: int) -> dict[str, int]:
    """Payload bytes of each layout for a rows x cols matrix with nnz nonzeros."""
    index_bytes = torch.empty(0, dtype=_index_dtype(cols)).element_size()
    return {"dense": rows * cols * value_bytes,
            "mask": math.ceil(rows * cols / 8) + nnz * value_bytes,
            "csr": rows * index_bytes + nnz * (index_bytes + value_bytes)}


def encode_matrix(weight: torch.Tensor, int8: bool) -> dict:
    w = weight.detach().float().cpu()
    rows, cols = w.shape
    nonzero = w != 0
    sizes = layout_bytes(rows, cols, int(nonzero.sum()), 1 if int8 else 4)
    layout = min(LAYOUTS, key=lambda name: sizes[name])  # ties keep the simpler layout
    record: dict = {"shape": [rows, cols], "layout": layout}
    values = w
    if int8:
        values, record["scale"] = quantize_rows(w)
    if layout == "dense":
        record["values"] = values.contiguous()
        return record
    record["values"] = values[nonzero].contiguous()
    if layout == "mask":
        record["mask"] = torch.from_numpy(np.packbits(nonzero.numpy().ravel()))
    else:
        record["row_nnz"] = nonzero.sum(dim=1).to(_index_dtype(cols))
        record["columns"] = nonzero.nonzero()[:, 1].to(_index_dtype(cols)).contiguous()
    return record


def decode_matrix(record: dict) -> torch.Tensor:
    rows, cols = record["shape"]
    values = record["values"]
    if record["layout"] == "dense":
        full = values.reshape(rows, cols)
    else:
        full = torch.zeros(rows * cols, dtype=values.dtype)
        if record["layout"] == "mask":
            bits = np.unpackbits(record["mask"].numpy(), count=rows * cols).astype(bool)
            full[torch.from_numpy(bits)] = values
        elif record["layout"] == "csr":
            row = torch.repeat_interleave(torch.arange(rows), record["row_nnz"].long())
            full[row * cols + record["columns"].long()] = values
        else:
            raise ValueError(f"unknown matrix layout {record['layout']!r} ({', '.join(LAYOUTS)})")
        full = full.reshape(rows, cols)
    if "scale" in record:
        return full.float() * record["scale"][:, None]
    return full.float()


def _bias(layer: nn.Linear) -> torch.Tensor | None:
    return None if layer.bias is None else layer.bias.detach().float().cpu().clone()


def encode(model: MLP, activation: str, int8: bool = False) -> dict:
    """The stored form of an MLP with dense or factorised layers."""
    layers = []
    for layer in [*model.hidden, model.out]:
        if isinstance(layer, FactorisedLinear):
            layers.append({"kind": "factors", "bias": _bias(layer.second),
                           "matrices": [encode_matrix(layer.first.weight, int8),
                                        encode_matrix(layer.second.weight, int8)]})
        elif isinstance(layer, nn.Linear):
            layers.append({"kind": "dense", "bias": _bias(layer), "matrices": [encode_matrix(layer.weight, int8)]})
        else:
            raise TypeError(f"cannot store a {type(layer).__name__}: convert it to dense or factorised layers first")
    return {"format": FORMAT, "activation": activation, "int8": int8, "layers": layers}


def decode(state: dict) -> MLP:
    """The module a stored state describes (on the CPU)."""
    if state.get("format") != FORMAT:
        raise ValueError(f"compressed model format {state.get('format')!r}, expected {FORMAT}")
    built = []
    for record in state["layers"]:
        matrices = [decode_matrix(m) for m in record["matrices"]]
        bias = record["bias"]
        if record["kind"] == "factors":
            built.append(FactorisedLinear(matrices[1], matrices[0], bias))
        elif record["kind"] == "dense":
            (weight,) = matrices
            layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
            with torch.no_grad():
                layer.weight.copy_(weight)
                if bias is not None:
                    layer.bias.copy_(bias)
            built.append(layer)
        else:
            raise ValueError(f"unknown layer kind {record['kind']!r} (dense, factors)")
    in_features = built[0].in_features
    model = MLP(in_features, [layer.out_features for layer in built[:-1]], built[-1].out_features,
                state["activation"], init="torch")
    model.hidden = nn.ModuleList(built[:-1])
    model.out = built[-1]
    return model


def payload_bytes(state: dict) -> int:
    """Bytes of the tensors alone (the file adds the container's headers)."""
    total = 0
    for record in state["layers"]:
        total += 0 if record["bias"] is None else record["bias"].nbytes
        total += sum(t.nbytes for m in record["matrices"] for t in m.values() if isinstance(t, torch.Tensor))
    return total


def save(state: dict, path: str | Path) -> int:
    """Write a stored state atomically; return the file's size in bytes."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path).stat().st_size


def load(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
