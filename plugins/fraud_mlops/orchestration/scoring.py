"""The batch-scoring DAG's tasks: input table → batch prediction → this run's predictions → summary.

    prepare_batch_input → batch_predict → replace_run_predictions → summarise_batch_scoring

The SQL steps are ``include/sql/81``, ``80`` and ``82`` on the target's warehouse. The model
step is :func:`fraud_mlops.targets.batch_prediction`: a Vertex AI batch prediction job with the
model server container on gcp (Composer never loads the model), the same server code in a task
locally.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task

from fraud_mlops import assets, targets
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES


def prepare_batch_input(settings: Settings) -> Any:
    """Every card's latest features into the batch input table; no output table left over."""
    return targets.warehouse(settings).sql_operator(
        "prepare_batch_input",
        SQL_FILES["batch_prediction_input"],
        doc_md="Every card's latest features into batch_prediction_input; drop the previous output.",
    )


def batch_predict(settings: Settings) -> Any:
    """The champion's model server scores the input table into the output table."""
    return targets.batch_prediction(settings).operator("batch_predict")


def replace_run_predictions(settings: Settings) -> Any:
    """This run's rows of ``card_predictions`` replaced by the batch output, in one transaction."""
    return targets.warehouse(settings).sql_operator(
        "replace_run_predictions",
        SQL_FILES["card_predictions"],
        parameters={
            "run_id": "{{ run_id }}",
            # the run's rows are scored after it: their days are read, not every run's
            "run_after": "{{ dag_run.run_after.isoformat() }}",
            # BatchPredictionJob.model_version_id on gcp; the local task returns the same key.
            "model_version": "{{ ti.xcom_pull(task_ids='batch_predict')['model_version_id'] }}",
        },
        outlets=[assets.card_predictions()],
        doc_md="Replace this run's rows of card_predictions with the batch output (one transaction).",
    )


def summarise_batch_scoring(settings: Settings) -> Any:
    """Rows written, score quantiles and model version of this run (task log and XCom)."""

    @task(pool=settings.warehouse_pool)
    def summarise_batch_scoring(run_id: str | None = None) -> dict[str, Any]:
        """Rows written, score quantiles and model version of this run (task log and XCom)."""
        from fraud_mlops.sql_templates import render_sql

        run_after = get_current_context()["dag_run"].run_after.isoformat()
        (row,) = targets.warehouse(settings).records(
            render_sql(SQL_FILES["batch_scoring_summary"], settings),
            {"run_id": str(run_id), "run_after": run_after},
        )
        rows, flagged, quantiles, versions, cards = row
        written, given = int(rows), int(cards)
        summary = {
            "run_id": run_id,
            "rows_written": written,
            "flagged_as_fraud": int(flagged or 0),
            "score_quantiles": [float(q) for q in (quantiles or [])],
            "model_versions": str(versions or ""),
            "cards_in_input": given,
        }
        print(f"batch scoring: {summary}")
        if written < given:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"batch scoring wrote {written:,} of {given:,} cards: {given - written:,} were not scored "
                "(on gcp the batch prediction job lists them in its errors); the scored ones stay in "
                "card_predictions. Not retried: the rows would not change."
            )
        return summary

    return summarise_batch_scoring()
