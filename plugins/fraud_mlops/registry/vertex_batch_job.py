"""The batch-scoring DAG's Vertex AI batch prediction job, created once per run whatever the retries.

``CreateBatchPredictionJobOperator`` creates a job on every try. Its trigger turns any failed
poll into a task failure (the GAPIC ``GetBatchPredictionJob`` has no default retry, so one
``503`` does it) while the job runs on, and the retry 30 s later created a second job: it failed
on the output table the first had created, and so did the run, though the first job's scores
were written. :class:`CreateOrAwaitBatchPredictionJobOperator` labels each job with its run
(:func:`~fraud_mlops.sql_templates.run_digest`); a retry lists the run's jobs
(``ListBatchPredictionJobs``, filtered by that label) and waits for one still running instead
of creating another. A job that ended is not waited for: the retry creates its own, as a cleared
task should.

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

from fraud_mlops.sql_templates import run_digest

log = logging.getLogger(__name__)

#: The label naming the DAG run a job belongs to (values: lowercase letters, digits, ``-``, ``_``).
RUN_LABEL = "airflow_run"
#: ``JobState`` names of a job that has not finished: a retry waits for it.
ACTIVE_STATES = frozenset({"JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"})


def run_filter(run_label: str) -> str:
    """The ``ListBatchPredictionJobs`` filter for one run's jobs (``labels.key=value``, as
    https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs/list
    documents it)."""
    return f'labels.{RUN_LABEL}="{run_label}"'


class CreateOrAwaitBatchPredictionJobOperator(CreateBatchPredictionJobOperator):
    """``CreateBatchPredictionJobOperator`` whose retries wait for the run's job still running."""

    def execute(self, context: Any) -> Any:
        label = f"run-{run_digest(context['dag_run'])}"
        self.labels = {**(self.labels or {}), RUN_LABEL: label}
        if context["ti"].try_number > 1:
            running = self.running_job(label)
            if running is not None:
                return self.wait_for(context, running)
        return super().execute(context)

    def running_job(self, label: str) -> str | None:
        """The id of the run's job Vertex still runs, if any."""
        from airflow.providers.google.cloud.hooks.vertex_ai.batch_prediction_job import (
            BatchPredictionJobHook,
        )

        hook = BatchPredictionJobHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain
        )
        jobs = hook.list_batch_prediction_jobs(
            project_id=self.project_id, region=self.region, filter=run_filter(label)
        )
        for job in jobs:  # at most one runs: a retry waits for it rather than create another
            if job.state.name in ACTIVE_STATES:
                return str(job.name).rsplit("/", 1)[-1]
            log.info("batch prediction job %s of an earlier try ended %s", job.name, job.state.name)
        return None

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
