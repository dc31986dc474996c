"""
### Daily batch scoring with the champion model

Scores every card's latest features (the feature view's source, `latest_card_features`)
with the registry's **champion** version and writes `card_predictions` for dashboards:
prediction id, card pseudonym, score, decision at the model's threshold, model version,
feature time and scoring time.

1. `prepare_batch_input`: the latest features into `batch_prediction_input`.
2. `batch_predict`: the champion's model server scores it into `batch_prediction_output`.
   On gcp a Vertex AI batch prediction job (BigQuery in and out, the model server container):
   Composer never loads the model. Locally the same server code, in this task.
3. `replace_run_predictions`: in one transaction, delete this run's earlier rows and insert the
   new ones. Rerunning a run replaces its predictions; it never duplicates them.
4. `summarise_batch_scoring`: rows written, score quantiles, model version.

Same graph on both targets: BigQuery and Vertex AI on gcp, the DuckDB warehouse locally (in the
one-slot `warehouse` pool, because DuckDB allows one writer).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from fraud_mlops.orchestration.defaults import DEFAULT_ARGS, dag_defaults
from fraud_mlops.orchestration.scoring import (
    batch_predict,
    prepare_batch_input,
    replace_run_predictions,
    summarise_batch_scoring,
)
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="fraud_batch_scoring",
    description="Daily: latest card features → champion model server (batch) → card_predictions",
    schedule="0 4 * * *",  # after the daily ingestion (03:00) and its feature sync
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_defaults(settings, "serving", default_args={**DEFAULT_ARGS, "retry_delay": timedelta(minutes=2)}),
):
    (
        prepare_batch_input(settings)
        >> batch_predict(settings)
        >> replace_run_predictions(settings)
        >> summarise_batch_scoring(settings)
    )
