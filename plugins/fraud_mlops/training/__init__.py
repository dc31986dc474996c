"""Training logic as plain functions: dataset split, train, evaluate, gate, report, lineage.

The KFP components in ``include/pipelines/components/`` are thin wrappers around
:mod:`fraud_mlops.training.steps`. Where the pipeline runs is :mod:`fraud_mlops.pipeline_runs`;
its parameter values are :mod:`.pipeline_params`, its lineage row :mod:`.lineage`; the DAG's
tasks are :mod:`fraud_mlops.orchestration.training`.
"""
