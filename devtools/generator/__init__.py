"""Synthetic landing data: ``python -m devtools.generator --help``."""
