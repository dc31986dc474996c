"""Watching the model in production: prediction log, drift and skew, canary policy, alerts.

A domain package beside ``serving`` and ``training``: it reads what serving logged (through
the warehouse seam) and decides; it never imports the other domain packages.
"""
