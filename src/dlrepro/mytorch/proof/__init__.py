"""Proof that mytorch computes what torch computes: every module's outputs and gradients against
torch's autograd on the same inputs, weights and settings (float64), the losses against finite
differences, and the decoders against brute-force enumeration.

Each part of the library has a file here defining `CHECKS`, a list of `Check`s. The tests run
every check (tests/unit/test_mytorch*.py) and so does the pipeline's proof stage, whose table is
the report's: the same code proves the library in CI and in the report.
"""
