"""One module per experiment family: train its variants, analyse, write results."""
