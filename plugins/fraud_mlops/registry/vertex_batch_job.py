"""The batch-scoring DAG's Vertex AI batch prediction job, created once per run whatever the retries.

``CreateBatchPredictionJobOperator`` creates a job on every try. Its trigger turns any failed
poll into a task failure (the GAPIC ``GetBatchPredictionJob`` has no default retry, so one
``503`` does it) while the job runs on, and the retry 30 s later created a second job: it failed
on the output table the first had created, and so did the run, though the first job's scores
were written. :class:`CreateOrAwaitBatchPredictionJobOperator` labels each job with its run
(:func:`~fraud_mlops.sql_templates.run_digest`); a retry lists the run's jobs
(``ListBatchPredictionJobs``, filtered by that label) and waits for one still running instead
of creating another. One that succeeded after the failed poll, whose output table still stands,
is taken as the task's result: a new job would fail on that table. Otherwise (a failed job, or
a cleared run whose ``prepare_batch_input`` dropped the output) the retry creates its own.

The provider's operator module is imported by the DAG file, as before (this module is imported
only by :meth:`~fraud_mlops.registry.batch_prediction.VertexBatchPrediction.operator`).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.google.cloud.links.vertex_ai import VertexAIBatchPredictionJobLink
from airflow.providers.google.cloud.operators.vertex_ai.batch_prediction_job import (
    CreateBatchPredictionJobOperator,
)

from fraud_mlops.retries import lookup_retry
from fraud_mlops.sql_templates import run_digest

log = logging.getLogger(__name__)

#: The label naming the DAG run a job belongs to (values: lowercase letters, digits, ``-``, ``_``).
RUN_LABEL = "airflow_run"
#: ``JobState`` names of a job that has not finished: a retry waits for it.
ACTIVE_STATES = frozenset({"JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"})
SUCCEEDED = "JOB_STATE_SUCCEEDED"


def run_filter(run_label: str) -> str:
    """The ``ListBatchPredictionJobs`` filter for one run's jobs (``labels.key=value``, as
    https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs/list
    documents it)."""
    return f'labels.{RUN_LABEL}="{run_label}"'


class CreateOrAwaitBatchPredictionJobOperator(CreateBatchPredictionJobOperator):
    """``CreateBatchPredictionJobOperator`` whose retries wait for the run's job still running,
    or take the result of one that succeeded since."""

    def execute(self, context: Any) -> Any:
        label = f"run-{run_digest(context['dag_run'])}"
        self.labels = {**(self.labels or {}), RUN_LABEL: label}
        if context["ti"].try_number > 1:
            jobs = self.jobs_of_run(label)
            running = next((j for j in jobs if j.state.name in ACTIVE_STATES), None)
            if running is not None:
                return self.wait_for(context, str(running.name).rsplit("/", 1)[-1])
            # the newest job only: an older one that succeeded (before the run was cleared)
            # wrote an output a newer job, failed since, replaced
            if jobs and jobs[0].state.name == SUCCEEDED and self.output_exists():
                return self.adopt(context, jobs[0])
        return super().execute(context)

    def jobs_of_run(self, label: str) -> list[Any]:
        """The run's jobs (``BatchPredictionJob`` messages), newest first: a cleared run has an
        older job too, and Vertex's list is in no documented order."""
        from airflow.providers.google.cloud.hooks.vertex_ai.batch_prediction_job import (
            BatchPredictionJobHook,
        )

        hook = BatchPredictionJobHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain
        )
        jobs: list[Any] = list(
            hook.list_batch_prediction_jobs(
                project_id=self.project_id, region=self.region, filter=run_filter(label), retry=lookup_retry()
            )
        )
        jobs.sort(key=lambda job: job.create_time.timestamp() if job.create_time else 0.0, reverse=True)
        for job in jobs:
            log.info("batch prediction job %s of an earlier try: %s", job.name, job.state.name)
        return jobs

    def output_exists(self) -> bool:
        """Whether the output table a succeeded job wrote still stands: a cleared run's
        ``prepare_batch_input`` drops it (and rebuilds the input), and then this run scores again."""
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        project, dataset, table = str(self.bigquery_destination_prefix).removeprefix("bq://").split(".")
        hook = BigQueryHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        return bool(hook.table_exists(dataset_id=dataset, table_id=table, project_id=project))

    def adopt(self, context: Any, job: Any) -> Any:
        """The succeeded job's result, as the trigger would have handed it to ``execute_complete``."""
        from google.cloud.aiplatform_v1 import types

        log.info(
            "batch prediction job %s of an earlier try succeeded and its output stands: taking its "
            "result, not creating another (Vertex would refuse to write over the table)",
            job.name,
        )
        VertexAIBatchPredictionJobLink.persist(
            context=context, batch_prediction_job_id=str(job.name).rsplit("/", 1)[-1]
        )
        return self.execute_complete(
            context, {"status": "success", "job": types.BatchPredictionJob.to_dict(job)}
        )

    def wait_for(self, context: Any, job_id: str) -> None:
        """Defer to the provider's trigger on that job, as the operator does on one it created."""
        from airflow.providers.google.cloud.triggers.vertex_ai import CreateBatchPredictionJobTrigger

        log.info(
            "batch prediction job %s of an earlier try is running: waiting for it, not creating another",
            job_id,
        )
        context["ti"].xcom_push(key="batch_prediction_job_id", value=job_id)
        VertexAIBatchPredictionJobLink.persist(context=context, batch_prediction_job_id=job_id)
        self.defer(
            trigger=CreateBatchPredictionJobTrigger(
                conn_id=self.gcp_conn_id,
                project_id=self.project_id,
                location=self.region,
                job_id=job_id,
                poll_interval=self.poll_interval,
                impersonation_chain=self.impersonation_chain,
            ),
            method_name="execute_complete",
        )
