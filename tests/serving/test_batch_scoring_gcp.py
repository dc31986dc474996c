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
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

import jinja2
import pytest
from google.api_core.exceptions import ServiceUnavailable

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
            "name": "run_after",  # the run's rows are scored after it: the DELETE reads their days
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": "{{ dag_run.run_after.isoformat() }}"},
        },
        {
            "name": "model_version",
            "parameterType": {"type": "STRING"},
            "parameterValue": {"value": "{{ ti.xcom_pull(task_ids='batch_predict')['model_version_id'] }}"},
        },
    ]
    # the server's version when its artifact copy has one, else the job's model_version_id
    assert "COALESCE(NULLIF(JSON_VALUE(prediction, '$.model_version'), ''), @model_version)" in replace
    assert (
        f"DELETE FROM `{PROJECT}.fraud.card_predictions`\n"
        "WHERE scored_at >= TIMESTAMP_SUB(CAST(@run_after AS TIMESTAMP), INTERVAL 1 DAY)\n"
        "  AND scoring_run_id = @run_id"
    ) in replace
    assert "CAST(JSON_VALUE(prediction, '$.fraud_probability') AS FLOAT64)" in replace
    assert f"FROM `{PROJECT}.fraud.batch_prediction_output`" in replace


RUN = SimpleNamespace(
    dag_id="fraud_batch_scoring", run_id="manual__x", run_after=datetime(2026, 12, 5, tzinfo=UTC)
)
OUTPUT_TABLE = f"{PROJECT}.fraud.batch_prediction_output"


def _run_job(job_id: int, state: Any, created: datetime, **fields: Any) -> Any:
    """A ``BatchPredictionJob`` of ``RUN`` (labelled with it) as Vertex lists it."""
    from google.cloud.aiplatform_v1 import types

    return types.BatchPredictionJob(
        name=f"projects/{PROJECT}/locations/{REGION}/batchPredictionJobs/{job_id}", state=state,
        labels={"airflow_run": f"run-{run_digest(RUN)}"}, create_time=created, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@contextmanager
def _job_service(jobs: Any) -> Iterator[mock.MagicMock]:
    """Vertex's job service at its GAPIC client, with anonymous credentials: ``ListBatchPredictionJobs``
    answers ``jobs()`` in one page, as the client returns them (a pager over the response).
    Yields the list's mock."""
    from airflow.providers.google.cloud.hooks.vertex_ai.batch_prediction_job import BatchPredictionJobHook
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1 import types
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient, pagers

    def listed(self: Any, *, request: Any, **_: Any) -> Any:
        response = types.ListBatchPredictionJobsResponse(batch_prediction_jobs=jobs())
        return pagers.ListBatchPredictionJobsPager(
            mock.Mock(), types.ListBatchPredictionJobsRequest(request), response
        )

    with (
        mock.patch.object(BatchPredictionJobHook, "get_credentials", return_value=AnonymousCredentials()),
        mock.patch.object(
            JobServiceClient, "list_batch_prediction_jobs", autospec=True, side_effect=listed
        ) as lst,
    ):
        yield lst


def _retry_of_batch_predict(
    earlier: str | None, output_exists: bool, older_listed_first: bool = False, try_number: int = 2
) -> dict[str, Any]:
    """Try 2 (or ``try_number``) of ``batch_predict`` with Vertex's job service answered at its
    GAPIC client (the run's earlier job in state ``earlier``, or none) and BigQuery's REST API
    under the real client (the output table there or not): what it asked, created, returned,
    deleted (``tables_deleted``; ``deleted_when_created``: those deleted by the time the job was
    created) or deferred to, and the deferral's timeout."""
    from airflow.sdk.exceptions import TaskDeferred
    from google.cloud.aiplatform_v1 import types
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

    from tests.bigquery_rest import FakeBigQueryREST, patched_get_client

    parent = f"projects/{PROJECT}/locations/{REGION}"
    label = f"run-{run_digest(RUN)}"  # type: ignore[arg-type]

    model = f"{parent}/models/fraud-detector"

    def jobs() -> list[Any]:
        found = (
            []
            if earlier is None
            else [
                _run_job(41, earlier, datetime(2026, 12, 5, 2, tzinfo=UTC), model=model, model_version_id="7")
            ]
        )
        if older_listed_first:  # a job of the run before it was cleared (Vertex's order is not by time)
            found.insert(0, _run_job(
                40, "JOB_STATE_SUCCEEDED", datetime(2026, 12, 5, 1, tzinfo=UTC), model=model, model_version_id="6"
            ))  # fmt: skip
        return found

    def created(self: Any, *, parent: str, batch_prediction_job: Any, **_: Any) -> Any:
        out["deleted_when_created"] = list(fake.tables_deleted)
        job = types.BatchPredictionJob(batch_prediction_job)
        job.name, job.state = f"{parent}/batchPredictionJobs/42", types.JobState.JOB_STATE_PENDING
        return job

    fake = FakeBigQueryREST(
        table_rows=lambda table: 11996 if output_exists and table == OUTPUT_TABLE else None
    )
    operator: Any = _dag().get_task("batch_predict")
    ti = mock.MagicMock(try_number=try_number)
    out: dict[str, Any] = {"ti": ti, "label": label}
    with (
        _job_service(jobs) as lst,
        mock.patch.object(
            JobServiceClient, "create_batch_prediction_job", autospec=True, side_effect=created
        ) as create,
        patched_get_client(fake),
    ):
        try:
            out["returned"] = operator.execute({"dag_run": RUN, "ti": ti, "task_instance": ti})
        except TaskDeferred as deferred:
            out["deferred_to"] = deferred.trigger.job_id
            out["deferred_timeout"] = deferred.timeout
    out |= {
        "listed": lst.call_args,
        "created": create.call_args,
        "tables_read": fake.tables_read,
        "tables_deleted": fake.tables_deleted,
    }
    return out


@pytest.mark.parametrize("earlier", ["JOB_STATE_FAILED", None])
def test_a_retry_creates_its_own_job_when_none_of_the_run_runs_or_succeeded(
    gcp: Settings, earlier: str | None
) -> None:
    """A retry lists the run's jobs (by its label); one that failed, or none, is not waited for:
    the retry creates its job. (The running case: the DAG probe,
    tests/orchestration/test_gcp_batch_scoring_dag.py.)"""
    out = _retry_of_batch_predict(earlier, output_exists=False)

    listed = out["listed"].kwargs
    assert listed["request"]["filter"] == f'labels.airflow_run="{out["label"]}"'
    # GAPIC's list has no default retry; the look-up must outlast the 503 that failed the poll
    retry = listed["retry"]
    assert retry._predicate(ServiceUnavailable("unavailable")) and retry._timeout >= 60
    assert out["created"].kwargs["batch_prediction_job"].labels["airflow_run"] == out["label"]
    assert out["deferred_to"] == "42"


@pytest.mark.parametrize("older_listed_first", [False, True])
def test_a_retry_takes_the_result_of_the_runs_job_that_succeeded_since(
    gcp: Settings, older_listed_first: bool
) -> None:
    """The job finished between the failed poll and the retry, and its output table stands: a
    new job would fail on that table, so the retry returns the succeeded job as the trigger
    would have (replace_run_predictions reads its model_version_id) and creates none. Of two
    succeeded jobs of the run (the older one from before the run was cleared, its output since
    dropped and written again), the newest is taken, whatever order Vertex lists them in."""
    out = _retry_of_batch_predict(
        "JOB_STATE_SUCCEEDED", output_exists=True, older_listed_first=older_listed_first
    )

    assert out["created"] is None
    assert out["tables_read"] == [OUTPUT_TABLE]
    assert out["tables_deleted"] == []  # the adopted job's output is the run's result
    assert out["returned"]["name"].endswith("/batchPredictionJobs/41")
    assert out["returned"]["model_version_id"] == "7"
    pushed = {c.kwargs["key"]: c.kwargs["value"] for c in out["ti"].xcom_push.call_args_list}
    assert pushed["batch_prediction_job_id"] == "41"
    assert pushed["batch_prediction_job_conf"] == {"batch_prediction_job_id": "41"}


def test_a_retry_scores_again_when_the_newest_job_failed_after_an_older_one_succeeded(gcp: Settings) -> None:
    """The run was cleared after its job succeeded, and the new job failed: the older job's
    result is not the run's any more (its output was dropped and written again), so the retry
    creates a job; it used to adopt the first succeeded job listed. The table standing is the
    failed job's, dropped first (Vertex would refuse to write over it)."""
    out = _retry_of_batch_predict("JOB_STATE_FAILED", output_exists=True, older_listed_first=True)

    assert out["created"] is not None and out["deferred_to"] == "42"
    assert out["deleted_when_created"] == [OUTPUT_TABLE]


def test_a_retry_scores_again_when_the_succeeded_jobs_output_was_dropped(gcp: Settings) -> None:
    """A cleared run: prepare_batch_input ran again and dropped the output table, so the
    succeeded job's result no longer stands and the retry creates a job on the new input."""
    out = _retry_of_batch_predict("JOB_STATE_SUCCEEDED", output_exists=False)

    assert out["tables_read"] == [OUTPUT_TABLE]
    assert out["created"] is not None and out["deferred_to"] == "42"


@pytest.mark.parametrize(
    "earlier",
    ["JOB_STATE_FAILED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_EXPIRED", "JOB_STATE_CANCELLED"],
)
def test_a_retry_drops_the_output_a_job_that_did_not_succeed_left_before_creating_its_own(
    gcp: Settings, earlier: str
) -> None:
    """The run's job stopped without succeeding after creating its output table (a partial
    success writes some rows; a failed or expired job may have made the table): Vertex refuses
    a full table reference that exists (``BigQueryDestination.output_uri``), so the retry's job,
    and every retry after it, would fail on it. The retry drops it, then creates its job."""
    out = _retry_of_batch_predict(earlier, output_exists=True)

    assert out["tables_read"] == [OUTPUT_TABLE]
    assert out["tables_deleted"] == [OUTPUT_TABLE]
    assert out["deleted_when_created"] == [OUTPUT_TABLE]  # dropped before the job was created
    assert out["deferred_to"] == "42"


@pytest.mark.parametrize("earlier", ["JOB_STATE_UPDATING", "JOB_STATE_CANCELLING"])
def test_a_retry_waits_for_the_runs_job_being_updated_or_cancelled(gcp: Settings, earlier: str) -> None:
    """Neither state is an end: an updated job "goes back to the RUNNING state", a cancelling
    one may still succeed (JobState's documentation). A job created beside it would fail on the
    output table it writes, so the retry waits for it as for a running one."""
    out = _retry_of_batch_predict(earlier, output_exists=False)

    assert out["created"] is None
    assert out["deferred_to"] == "41"


@pytest.mark.parametrize(
    ("try_number", "earlier", "job"),
    [(1, None, "42"), (2, "JOB_STATE_RUNNING", "41")],
    ids=["the-provider-on-the-job-it-created", "a-retry-on-the-runs-running-job"],
)
def test_every_wait_for_the_job_is_bounded(
    gcp: Settings, try_number: int, earlier: str | None, job: str
) -> None:
    """The provider's trigger waits for ever on a job that expired, partially succeeded or
    stays queued, and Airflow applies no execution_timeout to a deferred task: each deferral
    carries the limit (the scheduler then fails the try, and its retry looks again)."""
    from fraud_mlops.registry.vertex_batch_job import JOB_WAIT_LIMIT

    out = _retry_of_batch_predict(earlier, output_exists=False, try_number=try_number)

    assert out["deferred_to"] == job
    assert out["deferred_timeout"] == JOB_WAIT_LIMIT
    assert (out["listed"] is None) == (try_number == 1)  # the first try looks up nothing


def _wait_runs_out(
    states: list[str], try_number: int, max_tries: int = 2, cancel_error: Any = None
) -> dict[str, Any]:
    """``batch_predict`` resumed as the scheduler resumes a try whose deferral timed out
    (``__fail__`` with ``TriggerFailureReason.TRIGGER_TIMEOUT``, ``check_trigger_timeouts``),
    through Airflow's own ``resume_execution``, with Vertex's job service answered at its GAPIC
    client: the run's jobs in ``states`` (ids 41, 42, ...), each cancel answered with
    ``cancel_error`` if given. What it raised, listed and cancelled."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

    label = f"run-{run_digest(RUN)}"  # type: ignore[arg-type]

    def jobs() -> list[Any]:
        return [
            _run_job(41 + i, state, datetime(2026, 12, 5, 2, i, tzinfo=UTC)) for i, state in enumerate(states)
        ]

    operator: Any = _dag().get_task("batch_predict")
    ti = mock.MagicMock(try_number=try_number, max_tries=max_tries)
    out: dict[str, Any] = {"label": label}
    with (
        _job_service(jobs) as lst,
        mock.patch.object(
            JobServiceClient, "cancel_batch_prediction_job", autospec=True, side_effect=cancel_error
        ) as cancel,
        pytest.raises(Exception) as raised,
    ):
        operator.resume_execution(
            TRIGGER_FAIL_REPR,
            {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
            {"dag_run": RUN, "ti": ti, "task_instance": ti},
        )
    out |= {"raised": raised.value, "listed": lst.call_args_list, "cancelled": cancel.call_args_list}
    return out


def test_the_last_tries_timeout_cancels_the_runs_jobs_not_finished(gcp: Settings) -> None:
    """No try is left to wait for them, and a job left running is billed until Vertex expires
    it: the last try (try_number > max_tries) asks Vertex to cancel each of the run's jobs still
    queued or running, by name, and fails on its timeout as before. A finished job, or one
    already cancelling, is left alone."""
    from airflow.sdk.exceptions import TaskDeferralTimeout
    from google.cloud.aiplatform_v1 import types

    out = _wait_runs_out(
        ["JOB_STATE_RUNNING", "JOB_STATE_FAILED", "JOB_STATE_QUEUED", "JOB_STATE_CANCELLING"], try_number=3
    )

    assert isinstance(out["raised"], TaskDeferralTimeout)
    ((_, kwargs),) = [(c.args, c.kwargs) for c in out["listed"]]
    assert types.ListBatchPredictionJobsRequest(kwargs["request"]) == types.ListBatchPredictionJobsRequest(
        parent=f"projects/{PROJECT}/locations/{REGION}", filter=f'labels.airflow_run="{out["label"]}"'
    )
    assert [c.kwargs["name"] for c in out["cancelled"]] == [
        # newest first, as jobs_of_run orders them
        f"projects/{PROJECT}/locations/{REGION}/batchPredictionJobs/43",
        f"projects/{PROJECT}/locations/{REGION}/batchPredictionJobs/41",
    ]
    assert all(c.kwargs["retry"] is not None for c in out["cancelled"])  # one 503 must not leave it billed


def test_an_earlier_tries_timeout_leaves_the_job_to_its_retry(gcp: Settings) -> None:
    """Try 2 of 3: its retry lists the run's jobs and waits for the one running again."""
    from airflow.sdk.exceptions import TaskDeferralTimeout

    out = _wait_runs_out(["JOB_STATE_RUNNING"], try_number=2)

    assert isinstance(out["raised"], TaskDeferralTimeout)
    assert out["listed"] == [] and out["cancelled"] == []


def test_a_cancel_that_fails_leaves_the_timeout_as_the_tries_failure(
    gcp: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Vertex refusing one cancel (a job that ended between the list and the cancel; or a 403)
    is logged for a person to cancel by hand, and the next job is still cancelled; the try fails
    on its timeout, not on the cancel."""
    from airflow.sdk.exceptions import TaskDeferralTimeout
    from google.api_core.exceptions import FailedPrecondition

    out = _wait_runs_out(
        ["JOB_STATE_RUNNING", "JOB_STATE_RUNNING"], try_number=3,
        cancel_error=[FailedPrecondition("the job has ended"), None],
    )  # fmt: skip

    assert isinstance(out["raised"], TaskDeferralTimeout)
    assert [c.kwargs["name"].rsplit("/", 1)[1] for c in out["cancelled"]] == ["42", "41"]
    assert "could not cancel batch prediction job" in caplog.text and "/batchPredictionJobs/42" in caplog.text
    assert "cancel it by hand" in caplog.text
