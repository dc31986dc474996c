"""Submitting the compiled pipeline to Vertex AI Pipelines: the exact CreatePipelineJob request.

The real provider operator, hook and Vertex SDK run; only the GAPIC ``PipelineServiceClient``
(the network boundary) is mocked, with offline anonymous credentials, and the SDK's
"create the artifacts bucket" helper is patched (offline it would retry for ~100 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1 import types
from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient

from fraud_mlops.pipeline_runs.base import pipeline_yaml_path
from fraud_mlops.pipeline_runs.vertex import (
    RunTrainingPipelineOperator,
    pipeline_for_project,
    pipeline_job_kwargs,
)
from fraud_mlops.settings import REPO_ROOT, Settings
from fraud_mlops.training.pipeline_params import pipeline_parameters

SNAPSHOT = "training_snapshot_20260901T000000_abcd1234"


def test_pipeline_parameters_point_at_bigquery_and_vertex(gcp_settings: Settings) -> None:
    assert pipeline_parameters(gcp_settings, SNAPSHOT, canary_percent=25, model_type=None) == {
        "snapshot_uri": f"bq://fraud-prj.fraud.{SNAPSHOT}",
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
        train_evaluate_deploy.execute({"ti": mock.MagicMock(), "task_instance": mock.MagicMock()})

    create.assert_called_once()
    request = create.call_args.kwargs
    assert request["parent"] == "projects/fraud-prj/locations/europe-west4"
    job: types.PipelineJob = request["pipeline_job"]
    sent = type(job).to_dict(job)["pipeline_spec"]
    committed = pipeline_yaml_path().read_text()
    template = yaml.safe_load(pipeline_for_project(committed, "fraud-prj", "europe-west4"))
    executors = sent["deploymentSpec"]["executors"].values()
    assert {e["container"]["image"] for e in executors} == {
        "europe-west4-docker.pkg.dev/fraud-prj/fraud-images/training:sklearn1.9.1-numpy2.4.6"
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
    assert request["pipeline_job_id"].startswith("fraud-training-")
    bucket.assert_called_once()
    assert bucket.call_args.kwargs["output_artifacts_gcs_dir"] == "gs://fraud-prj-pipeline-root"

    trigger = deferred.value.trigger
    assert isinstance(trigger, RunPipelineJobTrigger)
    assert (trigger.project_id, trigger.location, trigger.poll_interval) == ("fraud-prj", "europe-west4", 60)
    assert deferred.value.method_name == "execute_complete"


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
