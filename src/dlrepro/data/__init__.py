"""Datasets: where they come from (embedded, download, mirror, local) and their file formats."""
