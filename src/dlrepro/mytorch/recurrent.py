"""Recurrent cells and the sequence layers that run them with backpropagation through time.

A cell's `forward(x, h)` pushes what its backward needs onto a stack, and `backward(delta)` pops
the latest entry: a sequence layer calls the same cell once per time step, forward in time, then
backward in reverse order, and each call finds its own step's values. Layouts, weight names, gate
order and initialisation are torch's (nn.RNNCell, nn.GRUCell, nn.RNN, nn.GRU with
batch_first=False), so a torch twin can take the weights as they are.
"""
import numpy as np

from dlrepro.mytorch.layers import Linear, sigmoid
from dlrepro.mytorch.module import Module, uniform_parameter


def _check_step_input(name: str, x: np.ndarray, input_size: int, h: np.ndarray | None, hidden_size: int) -> None:
    if x.ndim != 2 or x.shape[1] != input_size:
        raise ValueError(f"{name}: input of shape {x.shape}, expected (N, {input_size})")
    if h is not None and h.shape != (x.shape[0], hidden_size):
        raise ValueError(f"{name}: hidden state of shape {h.shape}, expected ({x.shape[0]}, {hidden_size})")


class _Cell(Module):
    """What both cells share: torch's parameters (gates stacked in the rows) and the cache stack."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype=np.float64):
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1.0 / np.sqrt(hidden_size)  # torch's reset_parameters: every tensor U(±1/sqrt(hidden))
        rows = self.gates * hidden_size
        self.weight_ih = uniform_parameter(rng, bound, (rows, input_size), dtype)
        self.weight_hh = uniform_parameter(rng, bound, (rows, hidden_size), dtype)
        self.bias_ih = uniform_parameter(rng, bound, (rows,), dtype)
        self.bias_hh = uniform_parameter(rng, bound, (rows,), dtype)
        self._caches: list[tuple] = []

    def reset_cache(self) -> None:
        """Forget the cached steps (a sequence layer does this before each sequence, so forward
        passes that are never backpropagated, e.g. in evaluation, do not pile up)."""
        self._caches.clear()

    def _start(self, x: np.ndarray, h: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        _check_step_input(type(self).__name__, x, self.input_size, h, self.hidden_size)
        if h is None:
            h = np.zeros((x.shape[0], self.hidden_size), dtype=np.result_type(x, self.weight_hh.data))
        return x, h

    def _pop(self) -> tuple:
        if not self._caches:
            raise RuntimeError(f"{type(self).__name__}.backward without a forward step left to undo")
        return self._caches.pop()

    def _accumulate(self, x: np.ndarray, h: np.ndarray, grad_ih: np.ndarray, grad_hh: np.ndarray) -> np.ndarray:
        """Adds the parameter gradients from the pre-activation gradients (N, gates·hidden); returns dh's
        share through weight_hh (the caller adds any direct path from h to h')."""
        self.weight_ih.grad += grad_ih.T @ x
        self.bias_ih.grad += grad_ih.sum(axis=0)
        self.weight_hh.grad += grad_hh.T @ h
        self.bias_hh.grad += grad_hh.sum(axis=0)
        return grad_hh @ self.weight_hh.data


class RNNCell(_Cell):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh), as torch.nn.RNNCell (tanh)."""

    def forward(self, x: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        x, h = self._start(x, h)
        h_new = np.tanh(x @ self.weight_ih.data.T + self.bias_ih.data + h @ self.weight_hh.data.T + self.bias_hh.data)
        self._caches.append((x, h, h_new))
        return h_new

    def backward(self, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """delta = dL/dh' of the latest uncached step -> (dL/dx, dL/dh)."""
        x, h, h_new = self._pop()
        grad_pre = delta * (1.0 - h_new**2)
        dh = self._accumulate(x, h, grad_pre, grad_pre)
        return grad_pre @ self.weight_ih.data, dh


class GRUCell(_Cell):
    """As torch.nn.GRUCell, gates stacked r, z, n in the weights' rows:
    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h."""

    gates = 3

    def forward(self, x: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        x, h = self._start(x, h)
        H = self.hidden_size
        from_x = x @ self.weight_ih.data.T + self.bias_ih.data
        from_h = h @ self.weight_hh.data.T + self.bias_hh.data
        r = sigmoid(from_x[:, :H] + from_h[:, :H])
        z = sigmoid(from_x[:, H:2 * H] + from_h[:, H:2 * H])
        hidden_n = from_h[:, 2 * H:]  # W_hn h + b_hn: r scales it, so its gradient needs it
        n = np.tanh(from_x[:, 2 * H:] + r * hidden_n)
        h_new = (1.0 - z) * n + z * h
        self._caches.append((x, h, r, z, n, hidden_n))
        return h_new

    def backward(self, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """delta = dL/dh' of the latest uncached step -> (dL/dx, dL/dh)."""
        x, h, r, z, n, hidden_n = self._pop()
        grad_n_pre = delta * (1.0 - z) * (1.0 - n**2)
        grad_z_pre = delta * (h - n) * z * (1.0 - z)
        grad_r_pre = grad_n_pre * hidden_n * r * (1.0 - r)
        grad_ih = np.concatenate([grad_r_pre, grad_z_pre, grad_n_pre], axis=1)
        # On the hidden side the n gate's pre-activation is r ⊙ (W_hn h + b_hn).
        grad_hh = np.concatenate([grad_r_pre, grad_z_pre, grad_n_pre * r], axis=1)
        dh = self._accumulate(x, h, grad_ih, grad_hh) + delta * z
        return grad_ih @ self.weight_ih.data, dh


class _Recurrent(Module):
    """A stack of cells run over a sequence (T, N, F), as torch.nn.RNN / nn.GRU with batch_first=False
    and no dropout between layers. Parameters come layer by layer in torch's order
    (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_ih_l1, ...)."""

    cell_type: type[_Cell]

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator, num_layers: int = 1,
                 dtype=np.float64):
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers {num_layers}, expected at least 1")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.cells = [self.cell_type(input_size if layer == 0 else hidden_size, hidden_size, rng, dtype)
                      for layer in range(num_layers)]
        self._steps = 0

    def forward(self, x: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x (T, N, F), h0 (num_layers, N, hidden) or zeros -> (every step's hidden state of the last
        layer (T, N, hidden), each layer's final hidden state (num_layers, N, hidden))."""
        name = type(self).__name__
        if x.ndim != 3 or x.shape[2] != self.input_size or x.shape[0] < 1:
            raise ValueError(f"{name}: input of shape {x.shape}, expected (T >= 1, N, {self.input_size})")
        steps, batch = x.shape[:2]
        if h0 is None:
            dtype = np.result_type(x, self.cells[0].weight_hh.data)
            h0 = np.zeros((self.num_layers, batch, self.hidden_size), dtype=dtype)
        elif h0.shape != (self.num_layers, batch, self.hidden_size):
            raise ValueError(f"{name}: initial hidden state of shape {h0.shape}, "
                             f"expected ({self.num_layers}, {batch}, {self.hidden_size})")
        for cell in self.cells:
            cell.reset_cache()
        hidden = list(h0)
        outputs = []
        for t in range(steps):
            below = x[t]
            for layer, cell in enumerate(self.cells):
                hidden[layer] = below = cell.forward(below, hidden[layer])
            outputs.append(below)
        self._steps = steps
        return np.stack(outputs), np.stack(hidden)

    def backward(self, grad_outputs: np.ndarray, grad_final_h: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Backpropagation through time: dL/d(outputs) (T, N, hidden) and optionally dL/d(final hidden
        states) (num_layers, N, hidden) -> (dL/dx (T, N, F), dL/dh0 (num_layers, N, hidden))."""
        if grad_outputs.shape[0] != self._steps:
            raise ValueError(f"{type(self).__name__}: gradient of shape {grad_outputs.shape} for a forward "
                             f"pass over {self._steps} steps")
        # carry[layer]: dL/d(that layer's hidden state) arriving from the following time step.
        carry = list(np.zeros((self.num_layers, *grad_outputs.shape[1:]), dtype=grad_outputs.dtype)
                     if grad_final_h is None else grad_final_h)
        grad_x = []
        for t in reversed(range(self._steps)):
            from_above = grad_outputs[t]
            for layer in reversed(range(self.num_layers)):
                from_above, carry[layer] = self.cells[layer].backward(from_above + carry[layer])
            grad_x.append(from_above)
        self._steps = 0
        return np.stack(grad_x[::-1]), np.stack(carry)


class RNN(_Recurrent):
    """Stacked tanh RNN over a sequence, as torch.nn.RNN."""

    cell_type = RNNCell


class GRU(_Recurrent):
    """Stacked GRU over a sequence, as torch.nn.GRU."""

    cell_type = GRUCell


class GRUClassifier(Module):
    """A GRU over the sequence (T, N, F) and a linear layer on the last layer's final hidden state ->
    logits (N, classes). Parameters: the GRU's, then the head's `weight` (classes, hidden) and `bias`,
    initialised as torch.nn.Linear's (U(±1/sqrt(hidden)))."""

    def __init__(self, input_size: int, hidden_size: int, num_classes: int, rng: np.random.Generator,
                 num_layers: int = 1, dtype=np.float64):
        self.gru = GRU(input_size, hidden_size, rng, num_layers, dtype)
        self.head = Linear(hidden_size, num_classes, rng=rng, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        outputs, _ = self.gru.forward(x)
        self._output_shape = outputs.shape
        return self.head(outputs[-1])

    def backward(self, grad_logits: np.ndarray) -> np.ndarray:
        """dL/dlogits (N, classes) -> dL/dx (T, N, F)."""
        grad_last = self.head.backward(grad_logits)
        grad_outputs = np.zeros(self._output_shape, dtype=grad_last.dtype)
        grad_outputs[-1] = grad_last
        grad_x, _ = self.gru.backward(grad_outputs)
        return grad_x
