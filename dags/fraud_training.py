"""
### Train, evaluate, gate, register and deploy the fraud model

Runs when the ingestion publishes a new training snapshot (the `fraud_training_snapshot`
Asset; the event names the snapshot), or by hand with a `snapshot` parameter (empty = newest).
An event naming a snapshot already trained on (sent again by a cleared ingestion run) skips
the run at `choose_snapshot`.

The work is one Kubeflow pipeline, compiled to `include/pipelines/fraud_training.yaml`:
dataset from the snapshot (time split) → train → evaluate (metrics, HTML report) → gate
(absolute bars and "no worse than the champion" on the same test rows) → register + deploy a
canary, or record the rejection and why. On `gcp` it runs on Vertex AI Pipelines
(`RunPipelineJobOperator`, deferrable); locally the same YAML runs with `kfp.local`.
`record_model_lineage` then writes snapshot, pipeline run, model version, gate decision and
metrics to `model_lineage`. See `docs/training.md`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from fraud_mlops import assets
from fraud_mlops.orchestration.defaults import dag_defaults
from fraud_mlops.orchestration.training import (
    DAG_ID,
    DEFAULT_ARGS,
    choose_snapshot,
    dag_params,
    record_model_lineage,
    train_evaluate_deploy,
)
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id=DAG_ID,
    description="Snapshot → Vertex/kfp.local pipeline: train, evaluate, gate, register, deploy → lineage",
    schedule=[assets.training_snapshot()],
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_defaults(settings, "training", params=dag_params(), default_args=DEFAULT_ARGS),
):
    chosen = choose_snapshot(settings)
    outcome = train_evaluate_deploy(settings, chosen["parameters"])
    record_model_lineage(settings, outcome, chosen["snapshot"])
