"""Model lineage: which snapshot and pipeline run produced which model version, and why.

One row per training run in ``{dataset}.model_lineage``, written by the training DAG after
the pipeline, on both targets with the same BigQuery SQL (DuckDB runs it through the
warehouse adapter's transpiling hook). With ``snapshot_lineage`` (ingestion) it answers:
which landed files → which snapshot → which pipeline run → which model version serves.

On gcp the pipeline's outcome is read from the finished ``PipelineJob`` (the operator's XCom):
Vertex records each task's output parameters in its execution metadata as ``output:<name>``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from fraud_mlops.training.pipeline_params import PipelineResult

LINEAGE_TABLE = "model_lineage"

LINEAGE_SQL = """
CREATE SCHEMA IF NOT EXISTS `{dataset}`;
CREATE TABLE IF NOT EXISTS `{dataset}.model_lineage` (
  recorded_at TIMESTAMP,
  target STRING,
  snapshot_name STRING,
  pipeline_run STRING,
  model_name STRING,
  model_version STRING,
  gate_decision STRING,
  gate_reason STRING,
  champion_version STRING,
  metrics_json STRING,
  traffic_json STRING,
  dag_id STRING,
  dag_run_id STRING
);
INSERT INTO `{dataset}.model_lineage`
  (recorded_at, target, snapshot_name, pipeline_run, model_name, model_version, gate_decision,
   gate_reason, champion_version, metrics_json, traffic_json, dag_id, dag_run_id)
VALUES
  (CURRENT_TIMESTAMP(), @target, @snapshot_name, @pipeline_run, @model_name, @model_version,
   @gate_decision, @gate_reason, @champion_version, @metrics_json, @traffic_json, @dag_id, @dag_run_id)
"""


@dataclass(frozen=True)
class LineageRow:
    target: str
    snapshot_name: str
    pipeline_run: str
    model_name: str
    model_version: str
    gate_decision: str
    gate_reason: str
    champion_version: str
    metrics_json: str
    traffic_json: str
    dag_id: str
    dag_run_id: str

    def parameters(self) -> dict[str, str]:
        """Named query parameters (all STRING) for :data:`LINEAGE_SQL`."""
        return {k: str(v) for k, v in asdict(self).items()}


def lineage_row(
    result: PipelineResult, *, target: str, model_name: str, dag_id: str, dag_run_id: str
) -> LineageRow:
    return LineageRow(
        target=target,
        snapshot_name=result.snapshot,
        pipeline_run=result.pipeline_run,
        model_name=model_name,
        model_version=result.model_version,
        gate_decision=result.decision,
        gate_reason=result.reason,
        champion_version=result.champion_version,
        metrics_json=json.dumps(result.metrics, sort_keys=True),
        traffic_json=json.dumps(result.traffic, sort_keys=True),
        dag_id=dag_id,
        dag_run_id=dag_run_id,
    )


def lineage_sql(dataset_ref: str) -> str:
    return LINEAGE_SQL.format(dataset=dataset_ref)


def write_lineage_local(row: LineageRow, hook: Any, dataset_ref: str) -> None:
    """Through :class:`fraud_mlops.warehouse.hook.BigQueryDialectDuckDBHook` (one short write)."""
    hook.run(lineage_sql(dataset_ref), parameters=row.parameters())


def write_lineage_bigquery(row: LineageRow, client: Any, dataset_ref: str, location: str) -> None:
    """Through a ``google.cloud.bigquery.Client`` (the provider hook's ``get_client``); waits for the job."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(k, "STRING", v) for k, v in row.parameters().items()],
        labels={"app": "fraud-mlops"},
    )
    client.query(lineage_sql(dataset_ref), job_config=config, location=location).result()


# Output parameters of the pipeline's tasks that make up its result, by task name.
_OUTPUTS_BY_TASK = {
    "decide-gate": ("decision", "reason", "pipeline_run"),
    "evaluate-model": ("metrics_json",),
    "score-champion": ("version",),
    "deploy-model": ("model_version", "traffic_json"),
}


def result_from_vertex_job(job: dict[str, Any], snapshot: str) -> PipelineResult:
    """Rebuild the pipeline's outcome from a finished ``PipelineJob`` (dict form, snake or camel case)."""
    detail = job.get("job_detail") or job.get("jobDetail") or {}
    tasks = detail.get("task_details") or detail.get("taskDetails") or []
    found: dict[str, Any] = {}
    for task in tasks:
        name = task.get("task_name") or task.get("taskName") or ""
        metadata = (task.get("execution") or {}).get("metadata") or {}
        for output in _OUTPUTS_BY_TASK.get(name, ()):
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
