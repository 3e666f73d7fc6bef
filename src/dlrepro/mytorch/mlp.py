"""A multilayer perceptron from mytorch's layers, whose weights can travel to and from a torch twin."""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf

import numpy as np

from dlrepro.mytorch.layers import GELU, BatchNorm1d, Dropout, Identity, Linear, ReLU, Sequential, Sigmoid, Tanh
from dlrepro.mytorch.module import Module

ACTIVATIONS = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "gelu_tanh": lambda: GELU(approximate="tanh"),
    "identity": Identity,
}


class MLP(Module):
    """sizes = [in, hidden…, out]: per hidden layer Linear → [BatchNorm1d] → activation → [Dropout],
    then a final Linear giving the logits. `net` is the Sequential, laid out as the torch.nn.Sequential
    twin must be (same indices), so `state_keys()` are that twin's state_dict keys. The weights are
    drawn from `rng` layer by layer (weight, then bias), and the dropout masks from it afterwards."""

    def __init__(self, sizes: SequenceOf[int], activation: str = "relu", batchnorm: bool = False,
                 dropout: float = 0.0, *, rng: np.random.Generator, dtype=np.float64):
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes {list(sizes)} needs at least the input and output sizes")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation {activation!r} is not one of {sorted(ACTIVATIONS)}")
        layers: list[Module] = []
        for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
            layers.append(Linear(fan_in, fan_out, rng=rng, dtype=dtype))
            if batchnorm:
                layers.append(BatchNorm1d(fan_out, dtype=dtype))
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(Dropout(dropout, rng=rng))
        layers.append(Linear(sizes[-2], sizes[-1], rng=rng, dtype=dtype))
        self.net = Sequential(*layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.net(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return self.net.backward(grad)

    def _state(self) -> list[tuple[str, object, str]]:
        """(torch key, owner, attribute) for every entry of the twin's state_dict, in its order."""
        entries = []
        for index, layer in enumerate(self.net.layers):
            if isinstance(layer, Linear):
                names = ["weight", "bias"] if layer.bias is not None else ["weight"]
            elif isinstance(layer, BatchNorm1d):
                names = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
            else:
                continue
            entries += [(f"{index}.{name}", layer, name) for name in names]
        return entries

    def state_keys(self) -> list[str]:
        """The torch twin's state_dict keys, e.g. ["0.weight", "0.bias", "1.weight", …,
        "1.running_mean", "1.running_var", "1.num_batches_tracked", …]."""
        return [key for key, _, _ in self._state()]

    def state_arrays(self) -> list[np.ndarray]:
        """Copies of the weights and BatchNorm statistics in torch's state_dict order (Linear weight,
        bias; BatchNorm weight, bias, running mean, running variance, batches tracked as an int64
        scalar; …), so a twin loads them with
        `twin.load_state_dict({k: torch.from_numpy(a) for k, a in zip(twin.state_dict(), arrays)})`."""
        arrays = []
        for _, layer, name in self._state():
            value = getattr(layer, name)
            if name == "num_batches_tracked":
                arrays.append(np.array(value, dtype=np.int64))
            else:
                arrays.append(np.array(value.data if name in ("weight", "bias") else value, copy=True))
        return arrays

    def load_state_arrays(self, arrays: SequenceOf[np.ndarray]) -> None:
        """The inverse of state_arrays (e.g. from `[t.numpy() for t in twin.state_dict().values()]`);
        values are copied into the existing arrays, whose shapes must match."""
        entries = self._state()
        if len(arrays) != len(entries):
            raise ValueError(f"MLP: got {len(arrays)} arrays for {len(entries)} state entries")
        for (key, layer, name), array in zip(entries, arrays):
            array = np.asarray(array)
            if name == "num_batches_tracked":
                layer.num_batches_tracked = int(array)
                continue
            target = getattr(layer, name).data if name in ("weight", "bias") else getattr(layer, name)
            if array.shape != target.shape:
                raise ValueError(f"MLP: {key} has shape {target.shape}, got an array of shape {array.shape}")
            target[...] = array
