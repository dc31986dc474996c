"""Run the compiled pipeline on Vertex AI Pipelines, and read its outcome back.

The work is done by the Google provider's ``RunPipelineJobOperator`` in deferrable mode: it
creates the ``PipelineJob`` and hands the wait to the triggerer. Importing that operator's
module imports google-cloud-aiplatform (6 s on a quiet machine, 20 s on a busy one), which the
DAG processor would pay on every parse of the DAG file and which broke the 30 s DagBag import
timeout here. :class:`RunTrainingPipelineOperator` is a parse-cheap handle: it stores the
operator's arguments and builds the provider operator only when the task runs, delegating
``execute`` and, after the deferral, ``execute_complete`` to it.

A retry waits for the job an earlier try started, if Vertex still runs it, instead of starting a
second one beside it (:meth:`RunTrainingPipelineOperator.execute`). The provider's trigger turns
any failed poll into a task failure (the GAPIC ``GetPipelineJob`` has no default retry), and a
deferral can outlive its timeout, while the job runs on: each retry used to create another job,
and two pipelines deployed to the one endpoint side by side. Each try names its job
(:func:`pipeline_job_id`), so the earlier tries' jobs are found by name.

Every wait is bounded (:data:`JOB_WAIT_LIMIT`): the provider's operator defers with no timeout,
its trigger polls until the job ends, and Airflow applies no ``execution_timeout`` to a deferred
task, so a job stuck queued or in a step held the task, and with ``max_active_runs=1`` every
later training run, with no alert. A try whose wait runs out fails; its retry waits for the same
job again; the last try's timeout cancels it (nothing would wait for it any more) and alerts.

The template is the committed ``fraud_training.yaml`` shipped with the DAGs
(``dags/include/pipelines/`` on Composer). The outcome is read from the finished
``PipelineJob`` (the operator's XCom): Vertex records each task's output parameters in its
execution metadata as ``output:<name>``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache
from typing import Any

from airflow.providers.google.cloud.links.vertex_ai import VertexAIPipelineJobLink
from airflow.sdk import BaseOperator

from fraud_mlops.job_waits import cancel_refusals, resume_or_cancel
from fraud_mlops.pipeline_runs.base import TASK_ID, pipeline_yaml_path
from fraud_mlops.pipeline_runs.result import PipelineResult
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import DagRunLike, run_digest

log = logging.getLogger(__name__)

PIPELINE_DISPLAY_NAME = "fraud-training"
POLL_SECONDS = 60
#: ``PipelineState`` names of a job that has not finished: a retry waits for it. A job being
#: cancelled has not (the provider's trigger waits for it too): its running steps, a deploy among
#: them, go on until Vertex stops them, and a second job would race them on the endpoint.
ACTIVE_STATES = frozenset(
    {"PIPELINE_STATE_QUEUED", "PIPELINE_STATE_PENDING", "PIPELINE_STATE_RUNNING", "PIPELINE_STATE_CANCELLING"}
)
#: The ``PipelineState`` name of a job that finished well: a retry (not a clear) takes its result.
SUCCEEDED = "PIPELINE_STATE_SUCCEEDED"
#: The ``PipelineState`` name of a job that was cancelled: a try that waited for it submits its own.
CANCELLED = "PIPELINE_STATE_CANCELLED"
#: How many earlier tries a retry looks back over (one ``GetPipelineJob`` each, newest first).
LOOKBACK_TRIES = 5
#: How long one try of the training task stays deferred on its job before Airflow fails the try.
#: A run trains for minutes on the daily snapshot; its deploy step waits at most 2 h 10 min for
#: each of a deploy and an undeploy (``registry.vertex.OPERATION_TIMEOUT_SECONDS``). Six hours
#: leaves room for both and for a queue; the task's three tries end within about 18 hours.
JOB_WAIT_LIMIT = timedelta(hours=6)


def first_try_since_clear(ti: Any, retries: int) -> int:
    """The try number this task instance started from: 1, or the first try after its latest
    clear. A clear sets ``max_tries`` to the try number then plus the task's retries
    (``clear_task_instances``), so the first try after it is ``max_tries - retries + 1``;
    Airflow's own ``RuntimeTaskInstance.get_first_reschedule_date`` reads it so."""
    try_number, max_tries = max(1, ti.try_number), getattr(ti, "max_tries", None)
    if not isinstance(max_tries, int):
        return 1
    return min(max(1, max_tries - retries + 1), try_number)


def pipeline_job_id(dag_run: DagRunLike, try_number: int) -> str:
    """The ``PipelineJob`` id of one try of the task: readable, unique per run and try.

    Vertex takes ids of up to 128 characters of ``[a-z0-9-]`` starting with a letter.
    """
    return f"{PIPELINE_DISPLAY_NAME}-{dag_run.run_after:%Y%m%d%H%M%S}-{run_digest(dag_run)}-try{try_number}"


def recent_job_ids(dag_run: DagRunLike, try_number: int) -> dict[int, str]:
    """The job ids of try ``try_number`` and the :data:`LOOKBACK_TRIES` before it, by try,
    newest first: where a try looks for the run's jobs (a retry, and the last try's cancel)."""
    return {
        n: pipeline_job_id(dag_run, n) for n in range(try_number, max(0, try_number - LOOKBACK_TRIES - 1), -1)
    }


def pipeline_for_project(pipeline_yaml: str, project: str, region: str) -> str:
    """The compiled pipeline with its image's ``{project}``/``{region}`` placeholders filled in.

    The committed YAML is the same for every project; its executors name the training image as
    ``{region}-docker.pkg.dev/{project}/fraud-images/training:<tag>``. The tag is left as the
    compile wrote it, the build of the code the YAML embeds: during a deploy (plugins first,
    then ``include/``) the plugins' tag may already be the next one.
    """
    from fraud_mlops.registry.images import TRAINING_IMAGE, image_uri

    repository = image_uri("{project}", "{region}", TRAINING_IMAGE).rsplit(":", 1)[0] + ":"
    if repository not in pipeline_yaml:
        raise ValueError(f"the pipeline does not name the training image {repository}<tag>")
    return pipeline_yaml.replace(
        repository, image_uri(project, region, TRAINING_IMAGE).rsplit(":", 1)[0] + ":"
    )


def project_template(project: str, region: str) -> str:
    """This project's copy of the pipeline (image filled in), written to a temp file once."""
    import hashlib
    import tempfile
    from pathlib import Path

    text = pipeline_for_project(pipeline_yaml_path().read_text(), project, region)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"fraud_training_{digest}.yaml"
    if not path.is_file():
        path.write_text(text)
    return str(path)


def pipeline_job_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``RunPipelineJobOperator`` except ``task_id`` and ``parameter_values``.

    ``template_path`` is filled in when the task runs (:func:`project_template`), not at parse.
    """
    return {
        "project_id": settings.project,
        "region": settings.region,
        "display_name": PIPELINE_DISPLAY_NAME,
        "template_path": str(pipeline_yaml_path()),
        "pipeline_root": settings.pipeline_root,
        "service_account": settings.pipeline_service_account,
        "enable_caching": False,  # every run scores a moving champion; reuse would be wrong
        "labels": {"app": "fraud-mlops", "target": settings.target},
        "gcp_conn_id": settings.gcp_conn_id,
        "deferrable": True,
        "poll_interval": POLL_SECONDS,
    }


class RunTrainingPipelineOperator(BaseOperator):
    """``RunPipelineJobOperator(deferrable=True)``, constructed when the task runs (see module doc)."""

    template_fields = ("parameter_values",)
    ui_color = "#d7ecd9"
    #: The provider operator persists the job's link params (``VertexAIPipelineJobLink.persist``),
    #: but the links Airflow resolves when the task ends are this operator's: the button is here.
    #: (The links module is cheap to import; the aiplatform import the wrapper defers is not.)
    operator_extra_links = (VertexAIPipelineJobLink(),)

    def __init__(self, *, parameter_values: Any, job_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parameter_values = parameter_values
        self.job_kwargs = job_kwargs

    @property
    def extra_links_params(self) -> dict[str, Any]:
        """The link's region and project, as ``RunPipelineJobOperator.extra_links_params`` gives
        them (the job's id is what the provider operator persists): without them the Pipeline
        Job button was empty."""
        return {"region": self.job_kwargs["region"], "project_id": self.job_kwargs["project_id"]}

    def provider_operator(self, job_id: str | None = None) -> Any:
        from airflow.providers.google.cloud.operators.vertex_ai.pipeline_job import RunPipelineJobOperator

        kwargs = {**self.job_kwargs}
        kwargs["template_path"] = project_template(kwargs["project_id"], kwargs["region"])
        return RunPipelineJobOperator(
            task_id=self.task_id, parameter_values=self.parameter_values, job_id=job_id, **kwargs
        )

    def execute(self, context: Any) -> Any:
        """Wait for an earlier try's job if it still runs, or take its result if it succeeded
        and this try is a retry of it; else submit this try's job. Either way the task defers
        to the provider's trigger (TaskDeferred propagates; on a finished job it fires at once).

        A retry follows a try that failed while its job ran on (a poll that failed on an
        outage, a worker lost): training, registering and deploying again would put a second
        version on the endpoint for one snapshot. A clear means "run it again": after one, a
        job that succeeded before it is not taken, one still running is (a clear does not stop
        Vertex's job, and two would deploy side by side)."""
        # `airflow tasks test` runs a task instance never scheduled, whose try_number is 0
        ti, dag_run = context["ti"], context["dag_run"]
        try_number = max(1, ti.try_number)
        first = first_try_since_clear(ti, self.retries or 0)
        ids = recent_job_ids(dag_run, try_number)
        earlier = self.latest_earlier_job([job_id for n, job_id in ids.items() if n < try_number])
        if earlier is not None and earlier[1] in ACTIVE_STATES:
            return self.wait_for(context, *earlier)
        tries = {job_id: n for n, job_id in ids.items()}
        if earlier is not None and earlier[1] == SUCCEEDED and tries[earlier[0]] >= first:
            return self.wait_for(context, *earlier)
        if earlier is not None:
            cleared = " before the task was cleared" if earlier[1] == SUCCEEDED else ""
            log.warning(
                "pipeline job %s of an earlier try ended %s%s; submitting %s "
                "(a job that deployed before this task failed left its traffic split as it set it)",
                earlier[0], earlier[1], cleared, ids[try_number],
            )  # fmt: skip
        return self.submit(context, ids[try_number])

    def submit(self, context: Any, job_id: str) -> Any:
        """The provider operator's ``execute`` on ``job_id``: it creates the job and defers, with
        no timeout of its own; the deferral is given :data:`JOB_WAIT_LIMIT`."""
        from airflow.sdk.exceptions import TaskDeferred

        try:
            return self.provider_operator(job_id).execute(context)
        except TaskDeferred as deferred:
            if deferred.timeout is not None:
                raise
            raise TaskDeferred(
                trigger=deferred.trigger,
                method_name=deferred.method_name,
                kwargs=deferred.kwargs,
                timeout=JOB_WAIT_LIMIT,
            ) from None

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Resume as Airflow does; the last try's timeout cancels the run's newest job not
        finished (:func:`~fraud_mlops.job_waits.resume_or_cancel`): its retry waits for it otherwise."""
        return resume_or_cancel(
            super().resume_execution, next_method, next_kwargs, context, self.cancel_unfinished
        )

    def cancel_unfinished(self, context: Any) -> None:
        """``CancelPipelineJob`` on the newest of the run's recent jobs if it has not finished
        (Vertex stops its running steps; an endpoint operation a deploy step started runs to its
        end on Vertex's side). A cancel Vertex refuses is logged: the try fails on its timeout
        either way."""
        from airflow.providers.google.cloud.hooks.vertex_ai.pipeline_job import PipelineJobHook

        from fraud_mlops.retries import lookup_retry

        refused = cancel_refusals()
        ids = recent_job_ids(context["dag_run"], max(1, context["ti"].try_number))
        try:
            newest = self.latest_earlier_job(list(ids.values()))
            if newest is None or newest[1] not in ACTIVE_STATES - {"PIPELINE_STATE_CANCELLING"}:
                return
            project, region = self.job_kwargs["project_id"], self.job_kwargs["region"]
            name = f"projects/{project}/locations/{region}/pipelineJobs/{newest[0]}"
            log.warning(
                "cancelling pipeline job %s (%s): the last try's wait of %s ran out",
                name,
                newest[1],
                JOB_WAIT_LIMIT,
            )
            client = PipelineJobHook(gcp_conn_id=self.job_kwargs["gcp_conn_id"]).get_pipeline_service_client(
                region
            )
            client.cancel_pipeline_job(name=name, retry=lookup_retry())
        except refused as exc:
            log.error("could not cancel the run's pipeline job (%s): cancel it by hand", exc)

    def latest_earlier_job(self, job_ids: list[str]) -> tuple[str, str] | None:
        """The newest of ``job_ids`` Vertex knows, with its state name (``None``: none exists)."""
        from airflow.providers.google.cloud.hooks.vertex_ai.pipeline_job import PipelineJobHook
        from google.api_core.exceptions import NotFound

        from fraud_mlops.retries import lookup_retry

        hook = PipelineJobHook(gcp_conn_id=self.job_kwargs["gcp_conn_id"])
        retry = lookup_retry()  # GetPipelineJob has none: the 503 that failed the poll would fail this too
        for job_id in job_ids:
            try:
                job = hook.get_pipeline_job(
                    project_id=self.job_kwargs["project_id"],
                    region=self.job_kwargs["region"],
                    pipeline_job_id=job_id,
                    retry=retry,
                )
            except NotFound:
                continue  # that try failed before it created its job
            return job_id, job.state.name
        return None

    def wait_for(self, context: Any, job_id: str, state: str) -> None:
        """Defer to the provider's trigger on an earlier try's job, as the operator does on its own."""
        from airflow.providers.google.cloud.triggers.vertex_ai import RunPipelineJobTrigger

        log.info(
            "pipeline job %s of an earlier try is %s: %s, not submitting another",
            job_id, state, "taking its result" if state == SUCCEEDED else "waiting for it",
        )  # fmt: skip
        context["ti"].xcom_push(key="pipeline_job_id", value=job_id)
        VertexAIPipelineJobLink.persist(context=context, pipeline_id=job_id)
        self.defer(
            trigger=RunPipelineJobTrigger(
                conn_id=self.job_kwargs["gcp_conn_id"],
                project_id=self.job_kwargs["project_id"],
                location=self.job_kwargs["region"],
                job_id=job_id,
                poll_interval=self.job_kwargs["poll_interval"],
            ),
            method_name="execute_complete",
            timeout=JOB_WAIT_LIMIT,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """The finished job as a dict (the lineage task reads the gate's outputs from it).

        An earlier try's job this try waited for because it was being cancelled ends cancelled
        (the trigger's error): its steps have stopped, so this try submits its own job now, as
        it would have for a job found cancelled, rather than fail and spend a try."""
        job = event.get("job") or {}
        if event.get("status") == "error" and _state_name(job) == CANCELLED:
            waited = str(job.get("name", "")).rsplit("/", 1)[-1]
            own = pipeline_job_id(context["dag_run"], max(1, context["ti"].try_number))
            if waited not in ("", own):
                log.warning("pipeline job %s of an earlier try ended cancelled; submitting %s", waited, own)
                return self.submit(context, own)
        return self.provider_operator().execute_complete(context, event)


def _state_name(job: dict[str, Any]) -> str:
    """A serialized job's ``PipelineState`` name (the trigger's ``to_dict`` gives the enum's int)."""
    from google.cloud.aiplatform_v1.types import PipelineState

    state = job.get("state")
    if isinstance(state, str):
        return state
    return PipelineState(state).name if isinstance(state, int) else ""


class VertexPipelineRunner:
    """The Vertex pipeline job as one deferrable task (no worker slot held while it runs)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run_operator(self, parameters: Any) -> Any:
        return RunTrainingPipelineOperator(
            task_id=TASK_ID, parameter_values=parameters, job_kwargs=pipeline_job_kwargs(self.settings)
        ).output

    def result(self, outcome: dict[str, Any], snapshot: str) -> PipelineResult:
        return result_from_vertex_job(outcome, snapshot)


# Output parameters of the pipeline's tasks that make up its result, by task key (the task's
# name in the compiled pipeline's DAG).
_OUTPUTS_BY_TASK = {
    "decide-gate": ("decision", "reason", "pipeline_run"),
    "evaluate-model": ("metrics_json",),
    "score-champion": ("version",),
    "deploy-model": ("model_version", "traffic_json"),
}


def compiled_task_names(spec: dict[str, Any]) -> dict[str, str]:
    """Each task of a compiled pipeline, by its key and by its display name, → its key.

    A task detail's ``task_name`` is "the user specified name of the task that is defined in
    pipeline_spec" (aiplatform_v1 ``PipelineTaskDetail``): Google's own SDK matches it against
    task keys, while the proto's wording and KFP's UI suggest the display name
    (``set_display_name``, the compiled ``taskInfo.name``). Either is accepted; both come from
    the template Vertex runs, tasks inside conditions included.
    """
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec.get("components", {}).values() if "dag" in c)]
    names: dict[str, str] = {}
    for dag in dags:
        for key, task in dag.get("tasks", {}).items():
            names[key] = key
            names.setdefault(task.get("taskInfo", {}).get("name", key), key)
    return names


@cache
def _template_task_names() -> dict[str, str]:
    import yaml

    return compiled_task_names(yaml.safe_load(pipeline_yaml_path().read_text()))


def result_from_vertex_job(job: dict[str, Any], snapshot: str) -> PipelineResult:
    """Rebuild the pipeline's outcome from a finished ``PipelineJob`` (dict form, snake or camel case)."""
    detail = job.get("job_detail") or job.get("jobDetail") or {}
    tasks = detail.get("task_details") or detail.get("taskDetails") or []
    found: dict[str, Any] = {}
    keys = _template_task_names()
    for task in tasks:
        name = task.get("task_name") or task.get("taskName") or ""
        metadata = (task.get("execution") or {}).get("metadata") or {}
        for output in _OUTPUTS_BY_TASK.get(keys.get(name, name), ()):
            key = f"output:{output}"
            if key in metadata:
                found["champion_version" if output == "version" else output] = metadata[key]
    if "decision" not in found:
        state = job.get("state", "?")
        raise ValueError(
            f"pipeline job {job.get('name', '?')} ({state}) has no gate decision in its task details"
        )
    found.setdefault("pipeline_run", str(job.get("name", "")).rsplit("/", 1)[-1])
    return PipelineResult.from_outputs(found, snapshot)
