"""dlrepro: classic deep-learning course experiments as one reproducible pipeline."""

__version__ = "0.1.0"
