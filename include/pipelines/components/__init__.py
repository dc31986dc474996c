"""KFP components of the training pipeline, one per file, each a thin wrapper around a step.

Each component's body imports its step from :mod:`fraud_mlops.training.steps` (embedded in
the component, see :mod:`._runtime`) and maps KFP artifacts onto paths and values.
"""
