"""Batch scoring on gcp: the DAG's graph, the Vertex AI batch prediction job and the BigQuery SQL.

Composer never loads the model: the ``batch_predict`` task is the provider's
``CreateBatchPredictionJobOperator`` with BigQuery in and out and the champion version by
alias, whose serving container is the model server. Vertex sends it each BigQuery row as a JSON
array of the row's columns in table order (InstanceConfig's default for BigQuery input; the
operator cannot ask for objects): tests/registry/test_model_server.py shows the server reading
such rows, and the analysis test that 81 creates the columns in ``BATCH_INPUT_COLUMNS`` order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jinja2
import pytest

from fraud_mlops.settings import REPO_ROOT, Settings, get_settings
from fraud_mlops.sql_templates import run_digest

PROJECT, REGION = "fraud-prj", "europe-west4"


@pytest.fixture
def gcp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in {"MLOPS_TARGET": "gcp", "GCP_PROJECT": PROJECT, "GCP_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}}),
    )
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "fraud_batch_scoring.py"))
    assert bag.import_errors == {}
    return bag.dags["fraud_batch_scoring"]


def _rendered_query(dag: Any, task_id: str) -> tuple[str, list[Any]]:
    task: Any = dag.get_task(task_id)
    assert type(task).__name__ == "BigQueryInsertJobOperator"
    query = task.configuration["query"]
    rendered = dag.get_template_env().from_string(query["query"]).render(**(dag.user_defined_macros or {}))
    return rendered, query.get("queryParameters", [])


def test_gcp_dag_scores_with_a_vertex_batch_prediction_job(gcp: Settings) -> None:
    dag = _dag()
    assert [t.task_id for t in dag.topological_sort()] == [
        "prepare_batch_input",
        "batch_predict",
        "replace_run_predictions",
        "summarise_batch_scoring",
    ]
    job: Any = dag.get_task("batch_predict")
    from airflow.providers.google.cloud.operators.vertex_ai.batch_prediction_job import (
        CreateBatchPredictionJobOperator,
    )

    # the provider's operator, whose retries wait for a job still running (registry/vertex_batch_job.py)
    assert isinstance(job, CreateBatchPredictionJobOperator)
    assert type(job).__name__ == "CreateOrAwaitBatchPredictionJobOperator"
    expected = {
        "project_id": PROJECT,
        "region": REGION,
        "model_name": f"projects/{PROJECT}/locations/{REGION}/models/fraud-detector@champion",
        "instances_format": "bigquery",
        "predictions_format": "bigquery",
        "bigquery_source": f"bq://{PROJECT}.fraud.batch_prediction_input",
        "bigquery_destination_prefix": f"bq://{PROJECT}.fraud.batch_prediction_output",
        "gcs_source": None,
        "gcs_destination_prefix": None,
        "machine_type": "n1-standard-2",
        "starting_replica_count": 1,
        "max_replica_count": 2,
        "gcp_conn_id": "google_cloud_default",
        "deferrable": True,
        "job_display_name": "fraud-batch-scoring-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S') }}",
    }
    assert {name: getattr(job, name) for name in expected} == expected
    # a run triggered without a logical date (Airflow 3's default for manual and REST triggers)
    # has no ts_nodash in its context; the DAG's templates are strict, so the name must not need it
    from datetime import UTC, datetime
    from types import SimpleNamespace

    env = dag.get_template_env()
    context = {
        "dag_run": SimpleNamespace(run_after=datetime(2026, 12, 5, 3, 0, 7, tzinfo=UTC), logical_date=None)
    }
    assert env.from_string(job.job_display_name).render(**context) == "fraud-batch-scoring-20261205T030007"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("fraud-batch-scoring-{{ ts_nodash }}").render(**context)


def test_gcp_sql_steps_prepare_the_input_and_replace_the_run_from_the_output(gcp: Settings) -> None:
    dag = _dag()
    prepare, _ = _rendered_query(dag, "prepare_batch_input")
    assert f"CREATE OR REPLACE TABLE `{PROJECT}.fraud.batch_prediction_input` AS" in prepare
    assert f"FROM `{PROJECT}.fraud.latest_card_features`" in prepare
    assert f"DROP TABLE IF EXISTS `{PROJECT}.fraud.batch_prediction_output`" in prepare
    # declared types: a DuckDB SUM widens to HUGEINT (a Python Decimal the server refuses)
    assert "CAST(merchants_seen AS INT64) AS merchants_seen" in prepare
    assert "CAST(amount_avg_7d AS FLOAT64) AS amount_avg_7d" in prepare

    replace, parameters = _rendered_query(dag, "replace_run_predictions")
    assert parameters == [
        {"name": "run_id", "parameterType": {"type": "STRING"}, "parameterValue": {"value": "{{ run_id }}"}},
        {
            "name": "model_version",
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": "{{ ti.xcom_pull(task_ids='batch_predict')['model_version_id'] }}"},
        },
    ]
    # the server's version when its artifact copy has one, else the job's model_version_id
    assert "COALESCE(NULLIF(JSON_VALUE(prediction, '$.model_version'), ''), @model_version)" in replace
    assert f"DELETE FROM `{PROJECT}.fraud.card_predictions` WHERE scoring_run_id = @run_id" in replace
    assert "CAST(JSON_VALUE(prediction, '$.fraud_probability') AS FLOAT64)" in replace
    assert f"FROM `{PROJECT}.fraud.batch_prediction_output`" in replace


@pytest.mark.parametrize("earlier", ["JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED", None])
def test_a_retry_creates_its_own_job_when_none_of_the_run_still_runs(
    gcp: Settings, earlier: str | None
) -> None:
    """A retry lists the run's jobs (by its label); one that ended, or none, is not waited for:
    the retry creates its job, as a cleared task should. (The running case: the DAG probe,
    tests/orchestration/test_gcp_batch_scoring_dag.py.)"""
    from datetime import UTC, datetime
    from types import SimpleNamespace
    from unittest import mock

    from airflow.providers.google.cloud.hooks.vertex_ai.batch_prediction_job import BatchPredictionJobHook
    from airflow.sdk.exceptions import TaskDeferred
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import types
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient, pagers

    parent = f"projects/{PROJECT}/locations/{REGION}"
    run = SimpleNamespace(
        dag_id="fraud_batch_scoring", run_id="manual__x", run_after=datetime(2026, 12, 5, tzinfo=UTC)
    )
    label = f"run-{run_digest(run)}"

    def listed(self: Any, *, request: Any, **_: Any) -> Any:
        jobs = [] if earlier is None else [
            types.BatchPredictionJob(name=f"{parent}/batchPredictionJobs/41", state=earlier, labels={"airflow_run": label})
        ]  # fmt: skip
        response = types.ListBatchPredictionJobsResponse(batch_prediction_jobs=jobs)
        return pagers.ListBatchPredictionJobsPager(
            mock.Mock(), types.ListBatchPredictionJobsRequest(request), response
        )

    def created(self: Any, *, parent: str, batch_prediction_job: Any, **_: Any) -> Any:
        job = types.BatchPredictionJob(batch_prediction_job)
        job.name, job.state = f"{parent}/batchPredictionJobs/42", types.JobState.JOB_STATE_PENDING
        return job

    operator: Any = _dag().get_task("batch_predict")
    ti = mock.MagicMock(try_number=2)
    with (
        mock.patch.object(BatchPredictionJobHook, "get_credentials", return_value=AnonymousCredentials()),
        mock.patch.object(
            JobServiceClient, "list_batch_prediction_jobs", autospec=True, side_effect=listed
        ) as lst,
        mock.patch.object(
            JobServiceClient, "create_batch_prediction_job", autospec=True, side_effect=created
        ) as create,
        pytest.raises(TaskDeferred) as deferred,
    ):
        operator.execute({"dag_run": run, "ti": ti, "task_instance": ti})

    assert lst.call_args.kwargs["request"]["filter"] == f'labels.airflow_run="{label}"'
    create.assert_called_once()
    assert create.call_args.kwargs["batch_prediction_job"].labels["airflow_run"] == label
    assert deferred.value.trigger.job_id == "42"
