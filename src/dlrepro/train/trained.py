"""A trained MLP variant read back by the stages that start from it (svd-compress, layer-probes,
mnist-mlp's layer analysis): its folder holds runs/seed<k>/model.pt and provenance.json."""

from __future__ import annotations

from pathlib import Path

import torch

from dlrepro.io import read_json
from dlrepro.models.mlp import MLP, from_section


class TrainedMLP:
    """How a variant was trained (params: model, train), its seeds, and each seed's model."""

    def __init__(self, folder: str | Path | None, label: str):
        if folder is None:
            raise ValueError(f"{label}: needs --upstream (a trained mnist-mlp variant's folder)")
        self.folder = Path(folder)
        provenance = read_json(self.folder / "provenance.json")
        self.params = provenance["params"]
        self.seeds = [run["seed"] for run in provenance["per_seed"]]

    def checkpoint(self, seed: int) -> Path:
        return self.folder / "runs" / f"seed{seed}" / "model.pt"

    def model(self, seed: int, device: torch.device | str = "cpu") -> MLP:
        model = from_section(self.params["model"]).to(device)
        model.load_state_dict(torch.load(self.checkpoint(seed), map_location=device, weights_only=True))
        return model
