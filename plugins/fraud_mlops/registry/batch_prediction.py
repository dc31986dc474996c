"""Batch prediction with the model server: Vertex AI batch prediction on gcp, the same code locally.

The batch-scoring DAG's middle task. Both read the input table
(``include/sql/81_batch_prediction_input.sql``: each card's latest features) and write the
output table (the input columns plus ``prediction``, the model server's answer as JSON), which
``include/sql/80_card_predictions.sql`` turns into this run's rows of ``card_predictions``.

* :class:`VertexBatchPrediction`: ``CreateBatchPredictionJobOperator`` (whose retries wait for
  the job an earlier try left running: :mod:`.vertex_batch_job`), BigQuery in and out,
  with the registry's ``champion`` version (``models/fraud-detector@champion``) and so its
  serving container, the model server image. Composer never loads the model. Vertex sends each
  input row as an array of its columns in table order (the operator cannot ask for objects);
  the server reads the features by their place in ``BATCH_INPUT_COLUMNS``.
* :class:`LocalBatchPrediction`: one task that loads the local registry's champion with the
  model server's own loader (:class:`~fraud_mlops.registry.model_server.ServedModel`, version
  checks included) and answers the rows as the server's predict route would, sent as Vertex
  sends them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fraud_mlops.features import BATCH_INPUT_COLUMNS, BATCH_INPUT_TABLE, BATCH_OUTPUT_TABLE
from fraud_mlops.registry.base import CHAMPION
from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

    from fraud_mlops.registry.model_server import ServedModel

log = logging.getLogger(__name__)

BATCH_MACHINE_TYPE = "n1-standard-2"
BATCH_MAX_REPLICAS = 2
PREDICTION_COLUMN = "prediction"


class NoChampion(RuntimeError):
    """The registry has no ``champion`` version yet: nothing to score with."""


class TableIO(Protocol):
    """The two warehouse operations the local batch needs (``warehouse.base.Warehouse`` has both)."""

    def read_arrow(self, sql: str) -> pa.Table: ...

    def replace_table(self, table: str, rows: pa.Table) -> None: ...


def champion_model_resource(project: str, region: str) -> str:
    """The champion version by alias: Vertex resolves ``@champion`` when the job starts."""
    return f"projects/{project}/locations/{region}/models/{MODEL_NAME}@{CHAMPION}"


class VertexBatchPrediction:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def operator(self, task_id: str) -> Any:
        from fraud_mlops.registry.vertex_batch_job import CreateOrAwaitBatchPredictionJobOperator

        s = self.settings
        return CreateOrAwaitBatchPredictionJobOperator(
            task_id=task_id,
            project_id=s.project,
            region=s.region,
            # run_after, not ts_nodash: a run triggered without a logical date (Airflow 3's manual
            # and REST default) has no ts_nodash, and the DAG's templates are strict
            job_display_name="fraud-batch-scoring-{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S') }}",
            model_name=champion_model_resource(s.project, s.region),
            instances_format="bigquery",
            predictions_format="bigquery",
            bigquery_source=f"bq://{s.project}.{s.dataset}.{BATCH_INPUT_TABLE}",
            # A full table reference: the dataset must exist and the table must not (81 drops it).
            bigquery_destination_prefix=f"bq://{s.project}.{s.dataset}.{BATCH_OUTPUT_TABLE}",
            machine_type=BATCH_MACHINE_TYPE,
            starting_replica_count=1,
            max_replica_count=BATCH_MAX_REPLICAS,
            labels={"app": "fraud-mlops", "dag": "fraud_batch_scoring"},
            gcp_conn_id=s.gcp_conn_id,
            deferrable=True,  # the wait holds no worker slot
            doc_md="Vertex AI batch prediction: the champion's model server scores the input table.",
        )


class LocalBatchPrediction:
    def __init__(self, registry_dir: Path, warehouse: TableIO, dataset_ref: str, pool: str) -> None:
        self.registry_dir = Path(registry_dir)
        self.warehouse = warehouse
        self.dataset_ref = dataset_ref
        self.pool = pool

    def operator(self, task_id: str) -> Any:
        from airflow.sdk import task

        return task(task_id=task_id, pool=self.pool)(self.run)().operator  # type: ignore[attr-defined]  # a PlainXComArg

    def champion(self) -> ServedModel:
        from fraud_mlops.registry.local_registry import LocalModelRegistry
        from fraud_mlops.registry.model_server import ServedModel

        version = LocalModelRegistry(self.registry_dir).get(MODEL_NAME, CHAMPION)
        if version is None:
            raise NoChampion(f"no {CHAMPION} version of {MODEL_NAME} in {self.registry_dir}")
        return ServedModel.load(version.local_dir(), version.model_name, version.version)

    def run(self) -> dict[str, Any]:
        """Score the input table into the output table; what Vertex's job does on gcp.

        No champion, or one this server refuses, fails the task at once: a retry would read
        the same registry (``AirflowFailException`` skips the retries, the failure still alerts).
        """
        from fraud_mlops.registry.serving_image import IncompatibleModel

        try:
            model = self.champion()
        except (NoChampion, IncompatibleModel) as err:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{err}; not retried: the registry would answer the same") from err
        rows = self.warehouse.read_arrow(f"SELECT * FROM `{self.dataset_ref}.{BATCH_INPUT_TABLE}`")
        self.warehouse.replace_table(BATCH_OUTPUT_TABLE, predict_rows(model, rows))
        summary = {
            "rows": rows.num_rows,
            "model_name": model.model_name,
            "model_version_id": model.model_version,  # the key of Vertex's BatchPredictionJob
        }
        log.info("batch prediction %s", summary)
        return summary


def predict_rows(model: ServedModel, rows: pa.Table) -> pa.Table:
    """The input rows plus ``prediction`` (JSON text), as Vertex's BigQuery output has them.

    The server gets what Vertex sends it for a BigQuery row by default: an array of the row's
    columns in table order (``BATCH_INPUT_COLUMNS``), so both targets run the same server path.
    """
    import pyarrow as pa

    if tuple(rows.column_names) != BATCH_INPUT_COLUMNS:
        raise ValueError(
            f"{BATCH_INPUT_TABLE} has columns {rows.column_names}, expected {BATCH_INPUT_COLUMNS}"
        )
    instances = [list(row.values()) for row in rows.to_pylist()]
    predictions = model.predict(instances) if instances else []
    column = pa.array([json.dumps(p) for p in predictions], type=pa.string())
    return rows.append_column(PREDICTION_COLUMN, column)
