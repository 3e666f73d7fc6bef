"""Summary folders, figures, the reference comparison, and rendering of the report."""
