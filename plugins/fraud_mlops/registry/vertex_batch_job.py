"""The batch-scoring DAG's Vertex AI batch prediction job, created once per run whatever the retries.

``CreateBatchPredictionJobOperator`` creates a job on every try. Its trigger turns any failed
poll into a task failure (the GAPIC ``GetBatchPredictionJob`` has no default retry, so one
``503`` does it) while the job runs on, and the retry 30 s later created a second job: it failed
on the output table the first had created, and so did the run, though the first job's scores
were written. :class:`CreateOrAwaitBatchPredictionJobOperator` labels each job with its run
(:func:`~fraud_mlops.sql_templates.run_digest`); a retry lists the run's jobs
(``ListBatchPredictionJobs``, filtered by that label) and waits for one not finished instead
of creating another. One that succeeded after the failed poll, whose output table still stands,
is taken as the task's result: a new job would fail on that table. Otherwise (a job that did not
succeed, or a cleared run whose ``prepare_batch_input`` dropped the output) the retry creates its
own, first dropping the output table a job that did not succeed may have left: Vertex refuses to
write to a table that exists.

Every wait is bounded (:data:`JOB_WAIT_LIMIT`): the provider's trigger waits for ever on a job
that expired, partially succeeded or stays queued, and Airflow applies no ``execution_timeout``
to a deferred task, so the task, and with ``max_active_runs=1`` every later run, would wait with it.
When the last try's wait runs out, the run's jobs not finished are cancelled: no try is left to
wait for them, and one left running would be billed until Vertex expires it.

The provider's operator module is imported by the DAG file, as before (this module is imported
only by :meth:`~fraud_mlops.registry.batch_prediction.VertexBatchPrediction.operator`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.google.cloud.links.vertex_ai import VertexAIBatchPredictionJobLink
from airflow.providers.google.cloud.operators.vertex_ai.batch_prediction_job import (
    CreateBatchPredictionJobOperator,
)

from fraud_mlops.job_waits import cancel_refusals, resume_or_cancel
from fraud_mlops.retries import lookup_retry
from fraud_mlops.sql_templates import run_digest

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

log = logging.getLogger(__name__)

#: The label naming the DAG run a job belongs to (values: lowercase letters, digits, ``-``, ``_``).
RUN_LABEL = "airflow_run"
#: ``JobState`` names of a job that has not finished: a retry waits for it. Besides the three
#: before and while it runs, ``UPDATING`` ("After updating, the job goes back to the ``RUNNING``
#: state") and ``CANCELLING`` ("From this state the job may only go to either
#: ``JOB_STATE_SUCCEEDED``, ``JOB_STATE_FAILED`` or ``JOB_STATE_CANCELLED``"), as
#: ``aiplatform_v1.types.JobState`` documents them: a job created beside one that may still
#: succeed would fail on its output table.
ACTIVE_STATES = frozenset(
    {
        "JOB_STATE_QUEUED",
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_UPDATING",
        "JOB_STATE_CANCELLING",
    }
)
SUCCEEDED = "JOB_STATE_SUCCEEDED"
#: How long one try of ``batch_predict`` stays deferred on its job before Airflow fails the try.
#: The daily job scores one row per card on ``BATCH_MACHINE_TYPE`` (n1-standard-2), one to
#: ``BATCH_MAX_REPLICAS`` (2) replicas: expected to take tens of minutes, most of them Vertex
#: starting the nodes and the model server. Three hours leaves room for a slow start and for
#: some time queued on quota, and the task's three tries (``retries=2``) still end within about
#: 9 hours, so a job that never finishes fails its run (and alerts) long before the next day's
#: 04:00 run, which ``max_active_runs=1`` would otherwise hold back.
JOB_WAIT_LIMIT = timedelta(hours=3)


def run_filter(run_label: str) -> str:
    """The ``ListBatchPredictionJobs`` filter for one run's jobs (``labels.key=value``, as
    https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs/list
    documents it)."""
    return f'labels.{RUN_LABEL}="{run_label}"'


class CreateOrAwaitBatchPredictionJobOperator(CreateBatchPredictionJobOperator):
    """``CreateBatchPredictionJobOperator`` whose retries wait for the run's job not finished,
    or take the result of one that succeeded since, and whose waits are bounded."""

    def execute(self, context: Any) -> Any:
        label = f"run-{run_digest(context['dag_run'])}"
        self.labels = {**(self.labels or {}), RUN_LABEL: label}
        if context["ti"].try_number > 1:
            jobs = self.jobs_of_run(label)
            running = next((j for j in jobs if j.state.name in ACTIVE_STATES), None)
            if running is not None:
                return self.wait_for(context, str(running.name).rsplit("/", 1)[-1])
            if self.output_exists():
                # the newest job only: an older one that succeeded (before the run was cleared)
                # wrote an output a newer job, failed since, replaced
                if jobs and jobs[0].state.name == SUCCEEDED:
                    return self.adopt(context, jobs[0])
                self.drop_output(jobs[0] if jobs else None)
        return super().execute(context)

    def defer(
        self,
        *,
        trigger: BaseTrigger,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | int | float | None = None,
    ) -> NoReturn:
        """Every deferral, the provider's on the job it created and :meth:`wait_for`'s, with
        :data:`JOB_WAIT_LIMIT` when none is given. The provider's trigger returns only once the
        job is cancelled, failed, paused or succeeded (``wait_batch_prediction_job``): never for
        a job expired or partially succeeded, nor while one stays queued.

        When the limit passes, the scheduler (``check_trigger_timeouts``) takes the task out of
        the triggerer and schedules it to fail; on resuming, ``BaseOperator.resume_execution``
        raises ``TaskDeferralTimeout``, an ``AirflowException``, which fails the try as any
        error does, so its retries run. The retry lists the run's jobs again: it waits once more
        (with a new limit) for one not finished, takes one that succeeded, or drops what one that
        did not succeed left and creates its own. The last try's timeout cancels the run's jobs
        not finished (:meth:`resume_execution`); its failure alerts (``on_failure_callback``) and
        ends the run."""
        super().defer(
            trigger=trigger,
            method_name=method_name,
            kwargs=kwargs,
            timeout=JOB_WAIT_LIMIT if timeout is None else timeout,
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Resume as Airflow does; the last try's timeout cancels the run's jobs not finished
        (:func:`~fraud_mlops.job_waits.resume_or_cancel`): its retry waits for them otherwise."""
        return resume_or_cancel(
            super().resume_execution, next_method, next_kwargs, context, self.cancel_unfinished
        )

    def cancel_unfinished(self, context: Any) -> None:
        """Ask Vertex to cancel each of the run's jobs not finished (``CancelBatchPredictionJob``:
        the job goes to ``JOB_STATE_CANCELLING``, then ``JOB_STATE_CANCELLED``, and is billed no
        longer; a cleared run's retry waits for one still cancelling, :data:`ACTIVE_STATES`). A
        cancel Vertex refuses is logged; the try fails on its timeout either way."""
        from airflow.providers.google.cloud.hooks.vertex_ai.batch_prediction_job import (
            BatchPredictionJobHook,
        )

        refused = cancel_refusals()
        try:
            unfinished = [
                j
                for j in self.jobs_of_run(f"run-{run_digest(context['dag_run'])}")
                if j.state.name in ACTIVE_STATES - {"JOB_STATE_CANCELLING"}
            ]
            if not unfinished:
                return
            hook = BatchPredictionJobHook(
                gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain
            )
            client = hook.get_job_service_client(self.region)
        except refused as exc:  # the timeout's failure stands either way
            log.error("could not list the run's batch prediction jobs (%s): cancel them by hand", exc)
            return
        for job in unfinished:  # each on its own: one that ended meanwhile refuses, the rest need not
            log.warning(
                "cancelling batch prediction job %s (%s): the last try's wait of %s ran out",
                job.name,
                job.state.name,
                JOB_WAIT_LIMIT,
            )
            try:
                client.cancel_batch_prediction_job(name=job.name, retry=lookup_retry())
            except refused as exc:
                log.error("could not cancel batch prediction job %s (%s): cancel it by hand", job.name, exc)

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
            log.info("batch prediction job %s of this run: %s", job.name, job.state.name)
        return jobs

    def _output_table(self) -> tuple[Any, str, str, str]:
        """A BigQuery hook and the output table's project, dataset and table."""
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        project, dataset, table = str(self.bigquery_destination_prefix).removeprefix("bq://").split(".")
        hook = BigQueryHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        return hook, project, dataset, table

    def output_exists(self) -> bool:
        """Whether the output table stands: a succeeded job's (a cleared run's
        ``prepare_batch_input`` drops it, and then this run scores again), or what a job that did
        not succeed wrote before it stopped."""
        hook, project, dataset, table = self._output_table()
        return bool(hook.table_exists(dataset_id=dataset, table_id=table, project_id=project))

    def drop_output(self, newest: Any | None) -> None:
        """Drop the output table before this try creates its job: Vertex requires that a full
        table reference not exist (``BigQueryDestination.output_uri``), so the table a failed,
        partially succeeded or expired job left would fail the new job, and every retry after it.
        Never called for a succeeded newest job's table: that one is adopted."""
        hook, project, dataset, table = self._output_table()
        log.info(
            "dropping %s.%s.%s, left by batch prediction job %s (%s), before creating another: "
            "Vertex would refuse to write over it",
            project,
            dataset,
            table,
            newest.name if newest is not None else "(none of the run listed)",
            newest.state.name if newest is not None else "-",
        )
        hook.delete_table(table_id=f"{project}.{dataset}.{table}", not_found_ok=True, project_id=project)

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
        """Defer to the provider's trigger on that job, as the operator does on one it created
        (for :data:`JOB_WAIT_LIMIT` at most, as every deferral: :meth:`defer`)."""
        from airflow.providers.google.cloud.triggers.vertex_ai import CreateBatchPredictionJobTrigger

        log.info(
            "batch prediction job %s of an earlier try has not finished: waiting for it, not creating another",
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
