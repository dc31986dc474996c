"""Submitting the compiled pipeline to Vertex AI Pipelines: the exact CreatePipelineJob request.

The real provider operator, hook and Vertex SDK run; only the GAPIC ``PipelineServiceClient``
(the network boundary) is mocked, with offline anonymous credentials, and the SDK's
"create the artifacts bucket" helper is patched (offline it would retry for ~100 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import yaml
from google.api_core.exceptions import ServiceUnavailable
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1 import types
from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient

from fraud_mlops.pipeline_runs.base import pipeline_yaml_path
from fraud_mlops.pipeline_runs.vertex import (
    JOB_WAIT_LIMIT,
    RunTrainingPipelineOperator,
    pipeline_for_project,
    pipeline_job_id,
    pipeline_job_kwargs,
)
from fraud_mlops.registry.images import image_tag
from fraud_mlops.settings import REPO_ROOT, Settings
from fraud_mlops.training.pipeline_params import pipeline_parameters

SNAPSHOT = "training_snapshot_20260901T000000_abcd1234"
RUN = SimpleNamespace(
    dag_id="fraud_training",
    run_id="asset_triggered__2026-12-05T10:00:00.123456+00:00",
    run_after=datetime(2026, 12, 5, 10, 0, 0, 123456, tzinfo=UTC),
)
PARENT = "projects/fraud-prj/locations/europe-west4"


RETRIES = 2  # the project's default (orchestration/defaults.py)


def _context(try_number: int, cleared_after: int | None = None) -> dict[str, Any]:
    """What the operator reads of a task's context: the run, the try (``max_tries`` as Airflow
    sets it: the task's retries, or after a clear following try ``cleared_after``, that try's
    number plus the retries), XCom pushes."""
    max_tries = RETRIES if cleared_after is None else cleared_after + RETRIES
    ti = mock.MagicMock(try_number=try_number, max_tries=max_tries)
    return {"dag_run": RUN, "ti": ti, "task_instance": ti}


def _job_id(try_number: int) -> str:
    return pipeline_job_id(RUN, try_number)


def test_pipeline_parameters_point_at_bigquery_and_vertex(gcp_settings: Settings) -> None:
    assert pipeline_parameters(gcp_settings, SNAPSHOT, canary_percent=25, model_type=None) == {
        "snapshot_uri": f"bq://fraud-prj.fraud_snapshots.{SNAPSHOT}",  # the dataset the pipeline may read
        "snapshot_name": SNAPSHOT,
        # registered versions' files are kept in the model store, out of the pipeline root's lifecycle
        "registry_uri": "vertexai://projects/fraud-prj/locations/europe-west4?artifacts=gs://fraud-prj-models",
        "endpoint_uri": "vertexai://projects/fraud-prj/locations/europe-west4/endpoints/fraud-endpoint",
        "model_name": "fraud-detector",
        "canary_percent": 25,
    }


def test_operator_submits_template_parameters_root_and_service_account(
    gcp_settings: Settings, google_connection: None
) -> None:
    from airflow.providers.google.cloud.hooks.vertex_ai.pipeline_job import PipelineJobHook
    from airflow.providers.google.cloud.triggers.vertex_ai import RunPipelineJobTrigger
    from airflow.sdk.exceptions import TaskDeferred

    parameters = pipeline_parameters(gcp_settings, SNAPSHOT)
    train_evaluate_deploy = RunTrainingPipelineOperator(
        task_id="train_evaluate_deploy",
        parameter_values=parameters,
        job_kwargs=pipeline_job_kwargs(gcp_settings),
    )
    created = types.PipelineJob(
        name="projects/123/locations/europe-west4/pipelineJobs/fraud-training-1",
        state=types.PipelineState.PIPELINE_STATE_RUNNING,
    )
    with (
        mock.patch.object(PipelineJobHook, "get_credentials", return_value=AnonymousCredentials()),
        mock.patch(
            "google.cloud.aiplatform.utils.gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist"
        ) as bucket,
        mock.patch.object(
            PipelineServiceClient, "create_pipeline_job", autospec=True, return_value=created
        ) as create,
        pytest.raises(TaskDeferred) as deferred,
    ):
        train_evaluate_deploy.execute(_context(try_number=1))

    create.assert_called_once()
    request = create.call_args.kwargs
    assert request["parent"] == "projects/fraud-prj/locations/europe-west4"
    job: types.PipelineJob = request["pipeline_job"]
    sent = type(job).to_dict(job)["pipeline_spec"]
    committed = pipeline_yaml_path().read_text()
    template = yaml.safe_load(pipeline_for_project(committed, "fraud-prj", "europe-west4"))
    executors = sent["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {
        f"europe-west4-docker.pkg.dev/fraud-prj/fraud-images/training:{image_tag('training')}"
    }  # the project's training image, filled into the committed YAML's placeholders
    # caching is the other change: enable_caching=False switches it off for every task
    assert {t.pop("cachingOptions", {}).get("enableCache", False) for t in _tasks(sent)} == {False}
    for task in _tasks(template):
        task.pop("cachingOptions", None)
    assert sent == template  # otherwise the committed YAML, unchanged
    assert dict(job.runtime_config.parameter_values) == parameters
    assert job.runtime_config.gcs_output_directory == "gs://fraud-prj-pipeline-root"
    assert job.service_account == "pipelines@fraud-prj.iam.gserviceaccount.com"
    assert job.display_name == "fraud-training"
    assert job.labels["app"] == "fraud-mlops" and job.labels["target"] == "gcp"
    # the first try names its job; there is no earlier try to look for
    assert request["pipeline_job_id"] == _job_id(1)
    bucket.assert_called_once()
    assert bucket.call_args.kwargs["output_artifacts_gcs_dir"] == "gs://fraud-prj-pipeline-root"

    trigger = deferred.value.trigger
    assert isinstance(trigger, RunPipelineJobTrigger)
    assert (trigger.project_id, trigger.location, trigger.poll_interval) == ("fraud-prj", "europe-west4", 60)
    assert deferred.value.method_name == "execute_complete"
    # the provider's operator defers with no timeout: a stuck job held the task, and every later run
    assert deferred.value.timeout == JOB_WAIT_LIMIT


@contextmanager
def _vertex(earlier: dict[str, types.PipelineState]) -> Iterator[tuple[mock.MagicMock, mock.MagicMock]]:
    """Vertex AI Pipelines at the GAPIC client: ``earlier`` maps job ids it knows to their state
    (any other id: NotFound, as GetPipelineJob answers); a created job is running."""
    from airflow.providers.google.cloud.hooks.vertex_ai.pipeline_job import PipelineJobHook
    from google.api_core.exceptions import NotFound

    def get(self: Any, request: dict[str, str], **_: Any) -> types.PipelineJob:
        job_id = request["name"].rsplit("/", 1)[1]
        if job_id not in earlier:
            raise NotFound(f"PipelineJob {request['name']} not found")
        return types.PipelineJob(name=request["name"], state=earlier[job_id])

    def create(self: Any, *, parent: str, pipeline_job: Any, pipeline_job_id: str, **_: Any) -> Any:
        return types.PipelineJob(
            name=f"{parent}/pipelineJobs/{pipeline_job_id}", state=types.PipelineState.PIPELINE_STATE_RUNNING
        )

    with (
        mock.patch.object(PipelineJobHook, "get_credentials", return_value=AnonymousCredentials()),
        mock.patch(
            "google.cloud.aiplatform.utils.gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist"
        ),
        mock.patch.object(
            PipelineServiceClient, "create_pipeline_job", autospec=True, side_effect=create
        ) as created,
        mock.patch.object(PipelineServiceClient, "get_pipeline_job", autospec=True, side_effect=get) as got,
    ):
        yield created, got


def _looked_up(got: mock.MagicMock) -> list[str]:
    return [c.kwargs["request"]["name"].removeprefix(f"{PARENT}/pipelineJobs/") for c in got.call_args_list]


def _deferred_to(gcp_settings: Settings, context: dict[str, Any]) -> Any:
    from airflow.sdk.exceptions import TaskDeferred

    operator = RunTrainingPipelineOperator(
        task_id="train_evaluate_deploy",
        parameter_values={},
        job_kwargs=pipeline_job_kwargs(gcp_settings),
        retries=RETRIES,
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == JOB_WAIT_LIMIT  # every wait is bounded, on a job of its own or not
    return deferred.value.trigger


def _wait_runs_out(
    gcp_settings: Settings,
    earlier: dict[str, types.PipelineState],
    try_number: int,
    cancel_error: Exception | None = None,
) -> dict[str, Any]:
    """The task resumed as the scheduler resumes a try whose deferral timed out (``__fail__``
    with ``TriggerFailureReason.TRIGGER_TIMEOUT``) through Airflow's own ``resume_execution``,
    Vertex AI Pipelines answered at its GAPIC client: what it raised, looked up and cancelled."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    operator = RunTrainingPipelineOperator(
        task_id="train_evaluate_deploy", parameter_values={}, job_kwargs=pipeline_job_kwargs(gcp_settings),
        retries=RETRIES,
    )  # fmt: skip
    with (
        _vertex(earlier) as (created, got),
        mock.patch.object(
            PipelineServiceClient, "cancel_pipeline_job", autospec=True, side_effect=cancel_error
        ) as cancel,
        pytest.raises(Exception) as raised,
    ):
        operator.resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, _context(try_number)
        )
    created.assert_not_called()
    return {"raised": raised.value, "looked_up": _looked_up(got), "cancelled": cancel.call_args_list}


def test_the_last_tries_timeout_cancels_the_runs_job(gcp_settings: Settings, google_connection: None) -> None:
    """Try 3 of 3 waited its JOB_WAIT_LIMIT for try 1's job: no try is left to wait for it, so it
    is cancelled (by its full name, with the lookup retry) and the try fails on its timeout."""
    from airflow.sdk.exceptions import TaskDeferralTimeout

    out = _wait_runs_out(gcp_settings, {_job_id(1): types.PipelineState.PIPELINE_STATE_RUNNING}, try_number=3)

    assert isinstance(out["raised"], TaskDeferralTimeout)
    assert out["looked_up"] == [_job_id(3), _job_id(2), _job_id(1)]
    ((_, kwargs),) = [(c.args, c.kwargs) for c in out["cancelled"]]
    assert kwargs["name"] == f"{PARENT}/pipelineJobs/{_job_id(1)}"
    retry = kwargs["retry"]
    assert retry._predicate(ServiceUnavailable("unavailable")) and retry._timeout >= 60


@pytest.mark.parametrize(
    ("try_number", "state"),
    [
        (2, types.PipelineState.PIPELINE_STATE_RUNNING),  # its retry waits for the job again
        (3, types.PipelineState.PIPELINE_STATE_CANCELLING),  # being cancelled already
        (3, types.PipelineState.PIPELINE_STATE_SUCCEEDED),  # ended as the wait ran out
    ],
)
def test_a_timeout_cancels_nothing_a_retry_waits_for_or_that_is_ending(
    gcp_settings: Settings, google_connection: None, try_number: int, state: types.PipelineState
) -> None:
    from airflow.sdk.exceptions import TaskDeferralTimeout

    out = _wait_runs_out(gcp_settings, {_job_id(1): state}, try_number=try_number)

    assert isinstance(out["raised"], TaskDeferralTimeout)
    assert out["cancelled"] == []


def test_a_refused_cancel_leaves_the_timeout_as_the_tries_failure(
    gcp_settings: Settings, google_connection: None, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow.sdk.exceptions import TaskDeferralTimeout
    from google.api_core.exceptions import PermissionDenied

    out = _wait_runs_out(
        gcp_settings, {_job_id(1): types.PipelineState.PIPELINE_STATE_RUNNING}, try_number=3,
        cancel_error=PermissionDenied("aiplatform.pipelineJobs.cancel"),
    )  # fmt: skip

    assert isinstance(out["raised"], TaskDeferralTimeout) and len(out["cancelled"]) == 1
    assert "cancel it by hand" in caplog.text


@pytest.mark.parametrize(
    "state", [types.PipelineState.PIPELINE_STATE_RUNNING, types.PipelineState.PIPELINE_STATE_CANCELLING]
)
def test_a_retry_waits_for_the_job_an_earlier_try_left_running(
    gcp_settings: Settings, google_connection: None, state: types.PipelineState
) -> None:
    """Try 3, the first after a clear: try 2 never created its job (NotFound), try 1's still
    runs (a clear does not stop it), or is being cancelled (its steps run until Vertex stops
    them): the task waits for that one and creates none, so no second pipeline deploys beside it."""
    from airflow.providers.google.cloud.triggers.vertex_ai import RunPipelineJobTrigger

    context = _context(try_number=3, cleared_after=2)
    with _vertex({_job_id(1): state}) as (created, got):
        trigger = _deferred_to(gcp_settings, context)

    created.assert_not_called()
    assert _looked_up(got) == [_job_id(2), _job_id(1)]  # newest first
    # GetPipelineJob has no default retry; the look-up must outlast the 503 that failed the poll
    retry = got.call_args.kwargs["retry"]
    assert retry._predicate(ServiceUnavailable("unavailable")) and retry._timeout >= 60
    assert isinstance(trigger, RunPipelineJobTrigger)
    assert (trigger.job_id, trigger.project_id, trigger.location) == (_job_id(1), "fraud-prj", "europe-west4")
    assert (trigger.conn_id, trigger.poll_interval) == ("google_cloud_default", 60)
    # the task's Pipeline Job button and XCom name the job it waits for, as for one it created
    pushed = {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}
    assert pushed == {"pipeline_job_id": _job_id(1), "pipeline_job_conf": {"pipeline_id": _job_id(1)}}


@pytest.mark.parametrize(
    ("state", "cleared_after"),
    [
        (types.PipelineState.PIPELINE_STATE_FAILED, None),
        (types.PipelineState.PIPELINE_STATE_CANCELLED, None),
        (types.PipelineState.PIPELINE_STATE_FAILED, 1),
        # clearing a finished task means run it again
        (types.PipelineState.PIPELINE_STATE_SUCCEEDED, 1),
    ],
)
def test_after_an_earlier_job_failed_or_a_clear_the_task_submits_its_own(
    gcp_settings: Settings, google_connection: None, state: types.PipelineState, cleared_after: int | None
) -> None:
    """A job that failed is not waited for, and after a clear neither is one that succeeded."""
    with _vertex({_job_id(1): state}) as (created, got):
        trigger = _deferred_to(gcp_settings, _context(try_number=2, cleared_after=cleared_after))

    assert _looked_up(got) == [_job_id(1)]
    created.assert_called_once()
    assert created.call_args.kwargs["pipeline_job_id"] == _job_id(2)
    assert trigger.job_id == _job_id(2)


@pytest.mark.parametrize("cleared_after", [None, 2])
def test_a_retry_takes_the_result_of_the_job_an_earlier_try_of_it_saw_succeed(
    gcp_settings: Settings, google_connection: None, cleared_after: int | None
) -> None:
    """Try 3 retries try 2 (the first try, or the first after a clear), whose job succeeded
    while its poll failed: the task takes that job's result (the trigger finds it finished at
    once) and creates none, so one snapshot does not train, register and deploy twice."""
    first = 1 if cleared_after is None else 3
    with _vertex({_job_id(first): types.PipelineState.PIPELINE_STATE_SUCCEEDED}) as (created, got):
        trigger = _deferred_to(gcp_settings, _context(try_number=first + 1, cleared_after=cleared_after))

    created.assert_not_called()
    assert _looked_up(got)[0] == _job_id(first)
    assert trigger.job_id == _job_id(first)


def test_a_try_that_waited_for_a_job_being_cancelled_submits_its_own_when_it_ends_cancelled(
    gcp_settings: Settings, google_connection: None
) -> None:
    """Try 2 found try 1's job cancelling and waited for it (its deploy step may still run); the
    provider's trigger then reports it cancelled, an error: the try submits its own job instead
    of failing (which spent a try, and failed a clear outright)."""
    from airflow.sdk.exceptions import TaskDeferred

    context = _context(try_number=2)
    operator = RunTrainingPipelineOperator(
        task_id="train_evaluate_deploy", parameter_values={}, job_kwargs=pipeline_job_kwargs(gcp_settings),
        retries=RETRIES,
    )  # fmt: skip
    cancelled = types.PipelineJob(
        name=f"{PARENT}/pipelineJobs/{_job_id(1)}", state=types.PipelineState.PIPELINE_STATE_CANCELLED
    )
    # what RunPipelineJobTrigger yields for a job that ended cancelled
    event = {
        "status": "error",
        "message": f"Pipeline job {cancelled.name} completed with status PIPELINE_STATE_CANCELLED",
        "job": types.PipelineJob.to_dict(cancelled),
    }
    with _vertex({_job_id(1): types.PipelineState.PIPELINE_STATE_CANCELLING}) as (created, _):
        with pytest.raises(TaskDeferred):
            operator.execute(context)
        created.assert_not_called()  # it waits for the cancelling job first
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute_complete(context, event)

    created.assert_called_once()
    assert created.call_args.kwargs["pipeline_job_id"] == _job_id(2)
    assert deferred.value.trigger.job_id == _job_id(2)


def test_a_task_instance_never_scheduled_submits_as_a_first_try(
    gcp_settings: Settings, google_connection: None
) -> None:
    """``airflow tasks test`` runs a task instance whose try_number is still 0."""
    with _vertex({}) as (created, got):
        trigger = _deferred_to(gcp_settings, _context(try_number=0))

    got.assert_not_called()
    assert created.call_args.kwargs["pipeline_job_id"] == trigger.job_id == _job_id(1)


def test_a_job_id_is_what_vertex_accepts_and_differs_per_run_and_try() -> None:
    from google.cloud.aiplatform.constants.pipeline import _VALID_NAME_PATTERN

    ids = {
        pipeline_job_id(SimpleNamespace(dag_id=dag_id, run_id=run_id, run_after=RUN.run_after), try_number)
        for dag_id in ("fraud_training", "other")
        for run_id in (RUN.run_id, "manual__2026-12-05T10:00:00+00:00")
        for try_number in (1, 2, 12)
    }
    assert len(ids) == 12
    assert all(_VALID_NAME_PATTERN.match(i) and i.startswith("fraud-training-20261205100000-") for i in ids)


def test_completion_returns_the_job_or_raises_the_error(gcp_settings: Settings) -> None:
    from airflow.providers.common.compat.sdk import AirflowException

    train_evaluate_deploy = RunTrainingPipelineOperator(
        task_id="train_evaluate_deploy", parameter_values={}, job_kwargs=pipeline_job_kwargs(gcp_settings)
    )
    job = {"name": "projects/1/locations/europe-west4/pipelineJobs/fraud-training-1", "state": 4}
    assert train_evaluate_deploy.execute_complete({}, {"status": "success", "job": job}) == job
    with pytest.raises(AirflowException, match="quota exceeded"):
        train_evaluate_deploy.execute_complete({}, {"status": "error", "message": "quota exceeded"})


def test_parsing_the_gcp_dag_imports_no_vertex_sdk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(REPO_ROOT / 'dags' / 'fraud_training.py')!r}); "
        "assert not bag.import_errors, bag.import_errors; "
        "task = bag.dags['fraud_training'].get_task('train_evaluate_deploy'); "
        "print(type(task).__name__, sorted(m for m in sys.modules if m.startswith('google.cloud.aiplatform')))"
    )
    env = {
        **os.environ,
        "MLOPS_TARGET": "gcp",
        "GCP_PROJECT": "fraud-prj",
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "RunTrainingPipelineOperator []"


def _tasks(spec: dict) -> list[dict]:
    tasks = list(spec["root"]["dag"]["tasks"].values())
    for component in spec["components"].values():
        tasks += list(component.get("dag", {}).get("tasks", {}).values())
    return tasks
