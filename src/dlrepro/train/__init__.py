"""The training engine: loop, metrics, determinism, checkpoints, provenance; the seed loop, data
splits and runners that several families share."""
