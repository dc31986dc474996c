"""
### Daily batch scoring with the champion model

Scores every card's latest features (the feature view's source, `latest_card_features`)
with the registry's **champion** version and writes `card_predictions` for dashboards:
prediction id, card pseudonym, score, decision at the model's threshold, model version,
feature time and scoring time.

1. `score_latest_features`: read the view, load the champion, score, replace the staging table.
2. `replace_run_predictions`: in one transaction, delete this run's earlier rows and insert the
   staged ones. Rerunning a run replaces its predictions; it never duplicates them.

Same tasks on both targets: BigQuery on gcp, the DuckDB warehouse locally (in the one-slot
`warehouse` pool, because DuckDB allows one writer).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from fraud_mlops.orchestration.defaults import DEFAULT_ARGS, dag_defaults
from fraud_mlops.orchestration.scoring import replace_run_predictions, score_latest_features
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="fraud_batch_scoring",
    description="Daily: latest card features → champion model → card_predictions",
    schedule="0 4 * * *",  # after the daily ingestion (03:00) and its feature sync
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_defaults(settings, "serving", default_args={**DEFAULT_ARGS, "retry_delay": timedelta(minutes=2)}),
):
    score_latest_features(settings) >> replace_run_predictions(settings)
