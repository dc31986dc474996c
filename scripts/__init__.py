"""Operator scripts: deploy to Composer, render infra inputs, prepare container environments."""
