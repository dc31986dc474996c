"""The batch-scoring DAG's tasks: champion scores → staging table → this run's predictions.

    score_latest_features → replace_run_predictions

The scoring itself is :func:`fraud_mlops.serving.batch.score_latest_features` (the same on both
targets); the replacement is ``include/sql/80_card_predictions.sql`` on the target's warehouse.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from fraud_mlops import assets, targets
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES


def score_latest_features(settings: Settings) -> Any:
    """Score every card's latest features with the champion into the staging table."""

    @task(pool=settings.warehouse_pool)
    def score_latest_features() -> dict[str, Any]:
        """Score every card's latest features with the champion into the staging table."""
        from fraud_mlops.serving.batch import score_latest_features as score

        return score(settings)

    return score_latest_features()


def replace_run_predictions(settings: Settings) -> Any:
    """This run's rows of ``card_predictions`` replaced by the staged scores, in one transaction."""
    return targets.warehouse(settings).sql_operator(
        "replace_run_predictions",
        SQL_FILES["card_predictions"],
        parameters={"run_id": "{{ run_id }}"},
        outlets=[assets.card_predictions()],
        doc_md="Replace this run's rows of card_predictions with the staged scores (one transaction).",
    )
