"""Model lineage: which snapshot and pipeline run produced which model version, and why.

One row per training run in ``{dataset}.model_lineage``, written by the training DAG after
the pipeline with ``include/sql/90_model_lineage.sql``, through the warehouse seam: the same
SQL and parameters on BigQuery and on DuckDB. With ``snapshot_lineage`` (ingestion) it
answers: which landed files → which snapshot → which pipeline run → which model version serves.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from fraud_mlops.pipeline_runs.result import PipelineResult
from fraud_mlops.warehouse.base import Warehouse

log = logging.getLogger(__name__)

LINEAGE_TABLE = "model_lineage"
LINEAGE_SQL_FILE = "90_model_lineage.sql"
SNAPSHOT_TRAINED_SQL_FILE = "77_snapshot_trained.sql"
CHAMPION_SNAPSHOT_SQL_FILE = "92_champion_snapshot.sql"


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
        """Named query parameters (all STRING) of ``90_model_lineage.sql``."""
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


_SNAPSHOT_NAME = re.compile(r"training_snapshot_[0-9]{8}T[0-9]{6}_[0-9a-f]{8}(_[0-9]+)?")


def keep_snapshot_sql(row: LineageRow, render: Callable[..., str]) -> str | None:
    """``91_keep_model_snapshot.sql`` for a run that registered a model version, else ``None``."""
    if not row.model_version:
        return None
    return keep_named_snapshot_sql(row.snapshot_name, render)


def keep_named_snapshot_sql(snapshot: str, render: Callable[..., str]) -> str:
    """``91_keep_model_snapshot.sql`` for ``snapshot``.

    The snapshot's name goes into the statement text (BigQuery's ALTER TABLE takes no
    parameter for it), so it must be a name :func:`~fraud_mlops.sql_templates.snapshot_name` makes.
    """
    if not _SNAPSHOT_NAME.fullmatch(snapshot):
        raise ValueError(f"not a training snapshot name: {snapshot!r}")
    return render("91_keep_model_snapshot.sql", snapshot=snapshot)


def other_champion(row: LineageRow) -> str | None:
    """The champion this run's gate compared against, when it is not the version just registered."""
    return (
        row.champion_version if row.champion_version and row.champion_version != row.model_version else None
    )


def champion_snapshot(row: LineageRow, warehouse: Warehouse, sql: str) -> str | None:
    """The kept training snapshot of the champion this run's gate compared against, if any.

    Renewing it on every run keeps the data behind a long-lived champion: its version lives in
    the model store for good, while its snapshot would otherwise expire
    ``model_retention_days`` after the champion was registered. ``sql`` is
    ``92_champion_snapshot.sql`` rendered for the target's dataset.
    """
    champion = other_champion(row)
    if champion is None:
        return None
    rows = warehouse.records(sql, {"model_name": row.model_name, "model_version": champion})
    return str(rows[0][0]) if rows else None


def write_lineage(row: LineageRow, warehouse: Warehouse, sql: str) -> None:
    """One short write; ``sql`` is ``90_model_lineage.sql`` rendered for the target's dataset."""
    warehouse.execute(sql, row.parameters())


def training_runs_on(warehouse: Warehouse, sql: str, snapshot: str, run_id: str) -> int:
    """How many training runs other than ``run_id`` recorded lineage for ``snapshot`` (``sql``:
    ``77_snapshot_trained.sql`` rendered; a cleared run of its own trains again). Nought while
    the lineage table does not exist yet (no run recorded anything); any other failure raises,
    and the task is retried: counted as nought it would train a snapshot twice."""
    try:
        ((runs,),) = warehouse.records(sql, {"snapshot_name": snapshot, "dag_run_id": run_id})
    except Exception as err:
        if not _missing_table(err):
            raise
        log.info("no training run recorded lineage yet (%s)", str(err)[:200])
        return 0
    return int(runs)


def _missing_table(err: BaseException) -> bool:
    """Whether ``err`` says the table read does not exist: BigQuery's ``NotFound`` (a query job
    over a missing table fails so) or DuckDB's catalog error. Each library is imported only if
    installed (Composer has no DuckDB)."""
    kinds: list[type[BaseException]] = []
    try:
        from google.api_core.exceptions import NotFound

        kinds.append(NotFound)
    except ImportError:  # pragma: no cover - both targets install google-api-core
        pass
    try:
        from duckdb import CatalogException

        kinds.append(CatalogException)
    except ImportError:
        pass
    return isinstance(err, tuple(kinds))
