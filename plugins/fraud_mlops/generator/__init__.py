"""Synthetic landing data: ``python -m fraud_mlops.generator --help``."""
