"""Training logic as plain functions: dataset split, train, evaluate, gate, report, lineage.

The KFP components in ``include/pipelines/components/`` are thin wrappers around
:mod:`fraud_mlops.training.steps`; the DAG side (local run, Vertex submission, lineage) lives
in :mod:`.local_run`, :mod:`.vertex_submit` and :mod:`.lineage`.
"""
