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
from typing import Any

from airflow.sdk import DAG, Asset, task

from fraud_mlops.orchestration.ingestion import DEFAULT_ARGS
from fraud_mlops.orchestration.sql_tasks import sql_task
from fraud_mlops.paths import sql_dir
from fraud_mlops.settings import get_settings
from fraud_mlops.sql_templates import template_context

settings = get_settings()
card_predictions = Asset(
    name="fraud_card_predictions",
    uri=f"bigquery://{settings.project}/{settings.dataset}/card_predictions",
)

with DAG(
    dag_id="fraud_batch_scoring",
    description="Daily: latest card features → champion model → card_predictions",
    schedule="0 4 * * *",  # after the daily ingestion (03:00) and its feature sync
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one staging table per warehouse
    default_args={**DEFAULT_ARGS, "retry_delay": timedelta(minutes=2)},
    template_searchpath=[str(sql_dir())],
    user_defined_macros=template_context(settings),
    tags=["fraud", "serving", settings.target],
    doc_md=__doc__,
):

    @task(pool=settings.warehouse_pool)
    def score_latest_features() -> dict[str, Any]:
        """Score every card's latest features with the champion into the staging table."""
        from fraud_mlops.serving.batch import score_latest_features as score

        return score(get_settings())

    replace_run_predictions = sql_task(
        "replace_run_predictions",
        "80_card_predictions.sql",
        settings,
        parameters={"run_id": "{{ run_id }}"},
        outlets=[card_predictions],
        doc_md="Replace this run's rows of card_predictions with the staged scores (one transaction).",
    )

    score_latest_features() >> replace_run_predictions
