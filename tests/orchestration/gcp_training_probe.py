"""Run the real ``fraud_training`` DAG on the gcp target under ``dag.test()`` (its deferred
pipeline task's trigger run in line), with Google's clients mocked at their boundary; print what
was sent and what the UI shows, as JSON.

A subprocess of test_gcp_training_dag.py (Airflow's settings and metadata DB are per process).
Vertex AI Pipelines creates the job (``PipelineServiceClient.create_pipeline_job``) and reports
it finished (``PipelineServiceAsyncClient.get_pipeline_job``) with the task details of a run that
deployed version 5 beside champion 4; BigQuery's REST API, answered in memory under the real
client (tests/bigquery_rest.py), takes the lineage writes and answers lineage's lookup of the
champion's training snapshot with ``CHAMPION_SNAPSHOT``.

An optional second argument, ``{"failed_polls": N}``, makes the first N polls fail as a
transient outage does (``ServiceUnavailable``) and gives the pipeline task one retry: Vertex's
``GetPipelineJob`` then finds the job created, still running, until the polls succeed; with
``"job_state": "PIPELINE_STATE_SUCCEEDED"`` it finds the job finished (it succeeded while the
poll failed).
"""

from __future__ import annotations

import json
import sys
from typing import Any
from unittest import mock

from fraud_mlops.settings import REPO_ROOT
from tests.bigquery_rest import FakeBigQueryREST, patched_get_client
from tests.orchestration.probe_support import links, test_dag

PROJECT_NUMBER = "123456789012"  # Vertex names the job with the project's number
CHAMPION_SNAPSHOT = "training_snapshot_20251130T060000_0badcafe"  # version 4's, still kept


def lineage_answers(query: dict[str, Any]) -> Any:
    """BigQuery's answer to the lookup of the champion's snapshot (92); no rows to the rest."""
    if "JOIN `fraud-prj.fraud.snapshot_lineage`" in query["query"]:
        return [{"name": "snapshot_name", "type": "STRING"}], [(CHAMPION_SNAPSHOT,)]
    return None


def task_outputs(job_id: str) -> dict[str, dict[str, str]]:
    """Output parameters of the finished job's tasks, by task key."""
    return {
        "score-champion": {"version": "4", "has_champion": "true"},
        "evaluate-model": {"metrics_json": json.dumps({"pr_auc": 0.81, "roc_auc": 0.97}), "threshold": "0.4"},
        "decide-gate": {"decision": "deploy", "reason": "accepted: pr_auc 0.81", "pipeline_run": job_id},
        "register-model": {"model_version": "5"},
        "deploy-model": {"model_version": "5", "traffic_json": json.dumps({"5": 10, "4": 90})},
    }


def _job_name(parent: str, job_id: str) -> str:
    return f"projects/{PROJECT_NUMBER}/{parent.split('/', 2)[2]}/pipelineJobs/{job_id}"


def _created(self: Any, *, parent: str, pipeline_job: Any, pipeline_job_id: str, **_: Any) -> Any:
    """Vertex's answer to CreatePipelineJob: the job, named with the id the request chose."""
    from google.cloud.aiplatform_v1.types import PipelineJob, PipelineState

    CREATED.add(f"{parent}/pipelineJobs/{pipeline_job_id}")
    return PipelineJob(name=_job_name(parent, pipeline_job_id), state=PipelineState.PIPELINE_STATE_RUNNING)


def _running(self: Any, *, request: dict[str, str], **_: Any) -> Any:
    """Vertex's answer to a (sync) GetPipelineJob: a job the probe created is in ``JOB_STATE``
    (running), any other is not found."""
    from google.api_core.exceptions import NotFound
    from google.cloud.aiplatform_v1.types import PipelineJob, PipelineState

    if request["name"] not in CREATED:
        raise NotFound(f"PipelineJob {request['name']} not found")
    return PipelineJob(name=request["name"], state=PipelineState[JOB_STATE[0]])


CREATED: set[str] = set()
JOB_STATE: list[str] = ["PIPELINE_STATE_RUNNING"]
FAILED_POLLS: list[int] = [0]  # how many polls are still to fail


async def _finished(self: Any, *, request: dict[str, str], **_: Any) -> Any:
    """Vertex's answer to GetPipelineJob for a finished run: each task's outputs in its
    execution metadata (``output:<name>``); first the transient failures asked for."""
    from google.api_core.exceptions import ServiceUnavailable
    from google.cloud.aiplatform_v1 import types
    from google.protobuf import struct_pb2

    if FAILED_POLLS[0]:
        FAILED_POLLS[0] -= 1
        raise ServiceUnavailable("The service is currently unavailable.")
    job_id = request["name"].rsplit("/", 1)[1]
    details = []
    for task, outputs in task_outputs(job_id).items():
        metadata = struct_pb2.Struct()
        metadata.update({f"output:{k}": v for k, v in outputs.items()})
        details.append(types.PipelineTaskDetail(task_name=task, execution=types.Execution(metadata=metadata)))
    return types.PipelineJob(
        name=request["name"],
        state=types.PipelineState.PIPELINE_STATE_SUCCEEDED,
        job_detail=types.PipelineJobDetail(task_details=details),
    )


def main() -> None:
    from google.cloud.aiplatform_v1.services.pipeline_service import (
        PipelineServiceAsyncClient,
        PipelineServiceClient,
    )

    scenario = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    FAILED_POLLS[0] = scenario.get("failed_polls", 0)
    JOB_STATE[0] = scenario.get("job_state", JOB_STATE[0])
    fake = FakeBigQueryREST(lineage_answers)
    with (
        mock.patch(
            "google.cloud.aiplatform.utils.gcs_utils.create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist"
        ),
        mock.patch.object(
            PipelineServiceClient, "create_pipeline_job", autospec=True, side_effect=_created
        ) as create,
        mock.patch.object(
            PipelineServiceAsyncClient, "get_pipeline_job", autospec=True, side_effect=_finished
        ) as poll,
        mock.patch.object(
            PipelineServiceClient, "get_pipeline_job", autospec=True, side_effect=_running
        ) as looked_up,
        patched_get_client(fake),
    ):
        dag, run = test_dag(
            REPO_ROOT / "dags" / "fraud_training.py", "fraud_training", json.loads(sys.argv[1]),
            retried=("train_evaluate_deploy",) if FAILED_POLLS[0] else (),
        )  # fmt: skip
    tis = {ti.task_id: ti for ti in run.get_task_instances()}

    job = create.call_args.kwargs["pipeline_job"]
    print("PROBE " + json.dumps({
        "states": {task_id: str(ti.state) for task_id, ti in tis.items()},
        "created": {"parent": create.call_args.kwargs["parent"],
                    "pipeline_job_id": create.call_args.kwargs["pipeline_job_id"],
                    "service_account": job.service_account,
                    "parameter_values": dict(job.runtime_config.parameter_values),
                    "display_name": job.display_name},
        "polled": [c.kwargs["request"] for c in poll.call_args_list],
        "created_count": create.call_count,
        "looked_up": [c.kwargs["request"] for c in looked_up.call_args_list],
        "tries": {task_id: ti.try_number for task_id, ti in tis.items()},
        "queries": [[j["configuration"]["query"]["query"], j["configuration"]["query"].get("queryParameters", [])]
                    for j in fake.jobs],
        "job_locations": sorted({(j["jobReference"]["projectId"], j["jobReference"].get("location"))
                                 for j in fake.jobs}),
        "unknown_requests": fake.unknown,
        "links": {task_id: links(dag, tis[task_id]) for task_id in ("train_evaluate_deploy", "record_model_lineage")},
        "lineage": tis["record_model_lineage"].xcom_pull(task_ids="record_model_lineage"),
        "dag_run_id": run.run_id,
        "run_after": run.run_after.isoformat(),
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
