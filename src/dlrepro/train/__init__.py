"""The training engine: loop, metrics, determinism, checkpoints, provenance."""
