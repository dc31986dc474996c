"""How the training DAG submits the compiled pipeline to Vertex AI Pipelines.

The work is done by the Google provider's ``RunPipelineJobOperator`` in deferrable mode: it
creates the ``PipelineJob`` and hands the wait to the triggerer. Importing that operator's
module imports google-cloud-aiplatform (6 s on a quiet machine, 20 s on a busy one), which the
DAG processor would pay on every parse of the DAG file and which broke the 30 s DagBag import
timeout here. :class:`RunTrainingPipelineOperator` is a parse-cheap handle: it stores the
operator's arguments and builds the provider operator only when the task runs, delegating
``execute`` and, after the deferral, ``execute_complete`` to it.

The template is the committed ``fraud_training.yaml`` shipped with the DAGs
(``dags/include/pipelines/`` on Composer).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from fraud_mlops.settings import Settings

PIPELINE_DISPLAY_NAME = "fraud-training"
POLL_SECONDS = 60


def pipeline_job_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``RunPipelineJobOperator`` except ``task_id`` and ``parameter_values``."""
    from fraud_mlops.training.pipeline_params import pipeline_yaml_path

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

    def __init__(self, *, parameter_values: Any, job_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parameter_values = parameter_values
        self.job_kwargs = job_kwargs

    def provider_operator(self) -> Any:
        from airflow.providers.google.cloud.operators.vertex_ai.pipeline_job import RunPipelineJobOperator

        return RunPipelineJobOperator(
            task_id=self.task_id, parameter_values=self.parameter_values, **self.job_kwargs
        )

    def execute(self, context: Any) -> Any:
        """Submit; the provider operator defers to its trigger (TaskDeferred propagates)."""
        return self.provider_operator().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """The finished job as a dict (the lineage task reads the gate's outputs from it)."""
        return self.provider_operator().execute_complete(context, event)
