"""Figures, the reference comparison, and rendering of the report."""
