"""The training DAG's tasks, on both targets.

    choose_snapshot → train_evaluate_deploy → record_model_lineage

``train_evaluate_deploy`` is the same compiled pipeline either way: on gcp the provider's
``RunPipelineJobOperator`` submits it to Vertex AI Pipelines and waits deferred (no worker
slot held), built at run time by :class:`.vertex_submit.RunTrainingPipelineOperator` so that
parsing never imports google-cloud-aiplatform; locally one task runs it with ``kfp.local``. Heavy imports (kfp, scikit-learn,
the Vertex SDK) happen inside tasks, so parsing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Param, task

from fraud_mlops.settings import Settings

DAG_ID = "fraud_training"
PIPELINE_DISPLAY_NAME = "fraud-training"

#: Tunables a manual run may override (the pipeline's own defaults apply when left empty).
TUNABLE_PARAMS = ("model_type", "canary_percent", "min_pr_auc", "min_roc_auc", "champion_tolerance")


def dag_params() -> dict[str, Param]:
    return {
        "snapshot": Param(
            "",
            type="string",
            description="Snapshot to train on; empty = the one that triggered the run, else the newest.",
        ),
        "model_type": Param(
            "hist_gradient_boosting",
            enum=["hist_gradient_boosting", "random_forest"],
            description="Gradient boosting (default) or the seed projects' random-forest baseline.",
        ),
        "canary_percent": Param(
            10, type="integer", minimum=0, maximum=100, description="Traffic for a new model."
        ),
        "min_pr_auc": Param(
            0.5, type="number", minimum=0, maximum=1, description="Gate: minimum test PR-AUC."
        ),
        "min_roc_auc": Param(
            0.85, type="number", minimum=0, maximum=1, description="Gate: minimum test ROC-AUC."
        ),
        "champion_tolerance": Param(
            0.0,
            type="number",
            minimum=0,
            maximum=1,
            description="Gate: PR-AUC the challenger may lose vs champion.",
        ),
    }


def snapshot_from_events(events: Mapping[Any, Sequence[Any]] | None) -> str | None:
    """The newest triggering event's ``extra["snapshot"]``, if the run was asset-triggered."""
    newest: tuple[Any, str] | None = None
    for asset_events in (events or {}).values():
        for event in asset_events:
            name = (getattr(event, "extra", None) or {}).get("snapshot")
            stamp = getattr(event, "timestamp", None)
            if name and (newest is None or (stamp is not None and stamp >= newest[0])):
                newest = (stamp, str(name))
    return newest[1] if newest else None


def newest_snapshot(settings: Settings) -> str:
    """Locally the newest snapshot file; on gcp the newest row of ``snapshot_lineage``."""
    if settings.is_local:
        from fraud_mlops.training.pipeline_params import newest_local_snapshot

        return newest_local_snapshot(settings)
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    hook = BigQueryHook(gcp_conn_id=settings.gcp_conn_id, use_legacy_sql=False, location=settings.bq_location)
    table = f"{settings.dataset_ref}.snapshot_lineage"
    rows = hook.get_records(f"SELECT snapshot_name FROM `{table}` ORDER BY created_at DESC LIMIT 1")
    if not rows:
        raise LookupError(f"no snapshot in {settings.dataset_ref}.snapshot_lineage; run the ingestion first")
    return str(rows[0][0])


def build_training(settings: Settings) -> None:
    """Create the training tasks in the current DAG."""

    @task(multiple_outputs=True)
    def choose_snapshot(**context: Any) -> dict[str, Any]:
        """Snapshot from the param, else the triggering asset event, else the newest one."""
        from fraud_mlops.training.pipeline_params import pipeline_parameters

        params = context["params"]
        snapshot = (
            params.get("snapshot")
            or snapshot_from_events(context.get("triggering_asset_events"))
            or newest_snapshot(settings)
        )
        overrides = {k: params.get(k) for k in TUNABLE_PARAMS}
        parameters = pipeline_parameters(settings, snapshot, **overrides)
        print(f"training on snapshot {snapshot} with {parameters}")
        return {"snapshot": snapshot, "parameters": parameters}

    chosen: Any = choose_snapshot()

    if settings.is_local:

        @task(execution_timeout=timedelta(hours=2))
        def train_evaluate_deploy(parameters: dict[str, Any]) -> dict[str, Any]:
            """The compiled pipeline run by kfp.local (subprocess per component, this venv)."""
            from dataclasses import asdict

            from fraud_mlops.training.local_run import run_pipeline_locally

            result = run_pipeline_locally(parameters, settings.local_dir / "pipeline_root")
            print(result.summary())
            return asdict(result)

        outcome: Any = train_evaluate_deploy(chosen["parameters"])
    else:
        from fraud_mlops.training.vertex_submit import RunTrainingPipelineOperator, pipeline_job_kwargs

        outcome = RunTrainingPipelineOperator(
            task_id="train_evaluate_deploy",
            parameter_values=chosen["parameters"],
            job_kwargs=pipeline_job_kwargs(settings),
        ).output

    @task(pool=settings.warehouse_pool)
    def record_model_lineage(outcome: dict[str, Any], snapshot: str, **context: Any) -> dict[str, str]:
        """One ``model_lineage`` row: snapshot, pipeline run, model version, gate decision, metrics."""
        from fraud_mlops.registry.names import MODEL_NAME
        from fraud_mlops.training.lineage import lineage_row
        from fraud_mlops.training.pipeline_params import PipelineResult

        if settings.is_local:
            result = PipelineResult(**outcome)
        else:
            from fraud_mlops.training.lineage import result_from_vertex_job

            result = result_from_vertex_job(outcome, snapshot)
        row = lineage_row(
            result,
            target=settings.target,
            model_name=MODEL_NAME,
            dag_id=context["dag"].dag_id,
            dag_run_id=context["run_id"],
        )
        write_lineage(settings, row)
        print(result.summary())
        return row.parameters()

    record_model_lineage(outcome, chosen["snapshot"])


def write_lineage(settings: Settings, row: Any) -> None:
    """Same SQL on both targets: DuckDB through the transpiling hook, BigQuery through a job."""
    from fraud_mlops.training.lineage import write_lineage_bigquery, write_lineage_local

    if settings.is_local:
        from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

        write_lineage_local(
            row, BigQueryDialectDuckDBHook(duckdb_conn_id=settings.warehouse_conn_id), settings.dataset_ref
        )
        return
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    bigquery = BigQueryHook(gcp_conn_id=settings.gcp_conn_id, location=settings.bq_location)
    client = bigquery.get_client(project_id=settings.project, location=settings.bq_location)
    write_lineage_bigquery(row, client, settings.dataset_ref, settings.bq_location)


def dag_kwargs(settings: Settings) -> dict[str, Any]:
    """Everything but the schedule, which the DAG file names (the snapshot Asset)."""
    return {
        "params": dag_params(),
        "max_active_runs": 1,
        "catchup": False,
        # A retry reruns the whole pipeline: at worst one extra registered version, never a lost one.
        "default_args": {"owner": "fraud-mlops", "retries": 2, "retry_delay": timedelta(minutes=1)},
        "tags": ["fraud", "training", settings.target],
    }
