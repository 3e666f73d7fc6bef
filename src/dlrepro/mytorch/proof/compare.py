"""What a check is and how its error is measured."""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-6  # largest relative error a float64 check may show


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute difference over the reference's largest magnitude (normwise, so entries
    near zero do not inflate it); 0 when both are all zeros. Shapes must be equal."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if ours.shape != reference.shape:
        raise ValueError(f"shape {ours.shape} is not the reference's {reference.shape}")
    scale = np.abs(reference).max(initial=0.0)
    diff = np.abs(ours - reference).max(initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)


@dataclass(frozen=True)
class Check:
    """One comparison: `run(rng)` returns (quantity, ours, reference) triples, e.g.
    ("output", y, y_torch), ("grad input", dx, x.grad), ("grad weight", dW, W.grad)."""

    module: str                 # the mytorch class or function checked, e.g. "Conv1d"
    case: str                   # what is special about this case, e.g. "stride 3 > kernel 2, padding 1"
    run: Callable[[np.random.Generator], list[tuple[str, np.ndarray, np.ndarray]]]

    def errors(self, seed: int = 0) -> dict[str, float]:
        """Each quantity's relative error on inputs drawn from `seed`."""
        rng = np.random.default_rng(seed)
        return {name: relative_error(ours, ref) for name, ours, ref in self.run(rng)}
