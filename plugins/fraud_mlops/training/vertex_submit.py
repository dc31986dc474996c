"""How the training DAG submits the compiled pipeline to Vertex AI Pipelines.

The operator is the Google provider's ``RunPipelineJobOperator`` in deferrable mode: it
creates the ``PipelineJob`` and hands the wait to the triggerer. The template is the committed
``fraud_training.yaml`` shipped with the DAGs (``dags/include/pipelines/`` on Composer).
"""

from __future__ import annotations

from typing import Any

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
