"""Run the real ``fraud_batch_scoring`` DAG on the gcp target under ``dag.test()`` (the deferred
batch job's trigger run in line); print what was sent to Google and the tasks' results as JSON.

A subprocess of test_gcp_batch_scoring_dag.py (Airflow's settings and metadata DB are per
process). BigQuery is its REST API answered in memory under the real client
(tests/bigquery_rest.py); Vertex AI creates the batch prediction job
(``JobServiceClient.create_batch_prediction_job``) and reports it finished
(``JobServiceAsyncClient.get_batch_prediction_job``), scored by model version 7.

Arguments: the output (``complete`` or ``partial``, below), and optionally the number of polls
that fail as a transient outage does (``ServiceUnavailable``); with any, ``batch_predict`` gets
one retry, and Vertex's ``ListBatchPredictionJobs`` lists the jobs created, still running.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from unittest import mock

from fraud_mlops.settings import REPO_ROOT
from tests.bigquery_rest import FakeBigQueryREST, Result, patched_get_client
from tests.orchestration.probe_support import links, test_dag

PROJECT_NUMBER = "123456789012"
MODEL = f"projects/{PROJECT_NUMBER}/locations/europe-west4/models/fraud-detector"
#: The columns of the summary query (82_batch_scoring_summary.sql).
SUMMARY_FIELDS = [
    {"name": "rows_written", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "flagged_as_fraud", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "score_quantiles", "type": "FLOAT", "mode": "REPEATED"},
    {"name": "model_versions", "type": "STRING", "mode": "NULLABLE"},
    {"name": "cards_in_input", "type": "INTEGER", "mode": "NULLABLE"},
]
#: What BigQuery answers it with: every card scored, or (``partial``) 6 of them left out of the
#: job's output, as Vertex does with instances the server refused.
SUMMARY: dict[str, Result] = {
    "complete": (SUMMARY_FIELDS, [(11996, 24, [0.0, 0.0001, 0.0003, 0.0011, 0.9984], "7", 11996)]),
    "partial": (SUMMARY_FIELDS, [(11990, 24, [0.0, 0.0001, 0.0003, 0.0011, 0.9984], "7", 11996)]),
}
OUTPUT = sys.argv[1] if len(sys.argv) > 1 else "complete"
FAILED_POLLS = [int(sys.argv[2]) if len(sys.argv) > 2 else 0]  # how many polls are still to fail
CREATED: list[Any] = []


def results(query: dict[str, Any]) -> Result | None:
    return SUMMARY[OUTPUT] if "APPROX_QUANTILES(score, 4)" in query["query"] else None


def _created(self: Any, *, parent: str, batch_prediction_job: Any, **_: Any) -> Any:
    """Vertex's answer to CreateBatchPredictionJob: the job, pending, with a server-chosen id."""
    from google.cloud.aiplatform_v1 import types

    job = types.BatchPredictionJob(batch_prediction_job)
    job.name = f"projects/{PROJECT_NUMBER}/locations/europe-west4/batchPredictionJobs/4242"
    job.state = types.JobState.JOB_STATE_PENDING
    job.create_time = "2026-12-05T03:00:09Z"
    CREATED.append(job)
    return job


def _listed(self: Any, *, request: Any, **_: Any) -> Any:
    """Vertex's answer to ListBatchPredictionJobs: the jobs created, now running, whose labels
    the filter matches (``labels.<key>="<value>"`` is the only filter the operator sends)."""
    import re

    from google.cloud.aiplatform_v1 import types
    from google.cloud.aiplatform_v1.services.job_service import pagers

    key, value = re.fullmatch(r'labels\.(\w+)="([^"]*)"', request["filter"]).groups()  # type: ignore[union-attr]
    jobs = [types.BatchPredictionJob(j, state=types.JobState.JOB_STATE_RUNNING) for j in CREATED]
    response = types.ListBatchPredictionJobsResponse(
        batch_prediction_jobs=[j for j in jobs if j.labels.get(key) == value]
    )
    return pagers.ListBatchPredictionJobsPager(
        method=mock.Mock(), request=types.ListBatchPredictionJobsRequest(request), response=response
    )


async def _finished(self: Any, *, request: Any, **_: Any) -> Any:
    """Vertex's answer to GetBatchPredictionJob once done: the champion alias resolved to v7."""
    from google.api_core.exceptions import ServiceUnavailable
    from google.cloud.aiplatform_v1 import types

    if FAILED_POLLS[0]:
        FAILED_POLLS[0] -= 1
        raise ServiceUnavailable("The service is currently unavailable.")
    return types.BatchPredictionJob(
        name=request["name"] if isinstance(request, dict) else request.name,
        display_name="fraud-batch-scoring",
        model=MODEL,
        model_version_id="7",
        state=types.JobState.JOB_STATE_SUCCEEDED,
        output_info=types.BatchPredictionJob.OutputInfo(
            bigquery_output_dataset="bq://fraud-prj.fraud",
            bigquery_output_table="batch_prediction_output",
        ),
    )


def main() -> None:
    from google.cloud.aiplatform_v1.services.job_service import JobServiceAsyncClient, JobServiceClient

    fake = FakeBigQueryREST(results)
    with (
        patched_get_client(fake),
        mock.patch.object(
            JobServiceClient, "create_batch_prediction_job", autospec=True, side_effect=_created
        ) as create,
        mock.patch.object(
            JobServiceAsyncClient, "get_batch_prediction_job", autospec=True, side_effect=_finished
        ) as poll,
        mock.patch.object(
            JobServiceClient, "list_batch_prediction_jobs", autospec=True, side_effect=_listed
        ) as listed,
    ):
        dag, run = test_dag(
            REPO_ROOT / "dags" / "fraud_batch_scoring.py", "fraud_batch_scoring",
            retried=("batch_predict",) if FAILED_POLLS[0] else (),
        )  # fmt: skip
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    job = create.call_args.kwargs["batch_prediction_job"]
    print("PROBE " + json.dumps({
        "states": {task_id: str(ti.state) for task_id, ti in tis.items()},
        "run_id": run.run_id,
        "run_after": run.run_after.isoformat(),
        "created": {"parent": create.call_args.kwargs["parent"],
                    "job": json.loads(type(job).to_json(job))},
        "polled": [c.kwargs["request"] for c in poll.call_args_list],
        "created_count": create.call_count,
        "listed": [c.kwargs["request"] for c in listed.call_args_list],
        "batch_predict_tries": tis["batch_predict"].try_number,
        "bigquery_jobs": fake.jobs,
        "unknown_requests": fake.unknown,
        "links": {task_id: links(dag, tis[task_id]) for task_id in ("prepare_batch_input", "batch_predict")},
        "summary": tis["summarise_batch_scoring"].xcom_pull(task_ids="summarise_batch_scoring"),
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
