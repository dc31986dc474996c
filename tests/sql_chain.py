"""Run the project's real ingestion SQL on the local warehouse, outside Airflow (shared by suites)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql, snapshot_name
from fraud_mlops.warehouse.duckdb_load import load_csv_into_table

TRANSFORMS = ("staging", "card_features", "training_examples")


class FakeDagRun:
    def __init__(self, run_id: str = "manual__test", dag_id: str = "fraud_ingest_test") -> None:
        self.run_id = run_id
        self.dag_id = dag_id
        self.run_after = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


#: The values the DAGs render the monitoring and scoring SQL with (model versions, the canary's
#: and the prediction log's bounds), as sample constants: every test that renders all of
#: include/sql/ takes them from here, so a value a template gains is added once.
TEMPLATE_VALUES: dict[str, Any] = {
    "limit": 10, "table": "rejected_rows", "champion": "1", "canary": "2",
    "start": "2026-11-01", "end": "2026-11-02",
    "since": "2026-11-01T00:00:00.000000Z", "deployment_known": "TRUE",
    "deployed_at": "2026-11-01T01:00:00.000000Z", "baseline_from": "2026-10-31T01:00:00.000000Z",
    "silent_from": "2026-11-01T02:00:00.000000Z", "logged_from": "2026-10-31T00:00:00.000000Z",
    "batch_from": "2026-10-30T00:00:00.000000Z", "incoming_from": "2026-11-01T00:00:00.000000Z",
}  # fmt: skip


def load_landing(
    hook: Any, settings: Settings, landing: pd.DataFrame, file_name: str, run_id: str = "r1"
) -> tuple[str, dict[str, str]]:
    """Land a DataFrame like a file: CSV → load table → 10_append_raw.sql (idempotent append);
    returns the load table's name and the append's parameters."""
    hook.run(render_sql(SQL_FILES["setup"], settings))
    table = "raw_load_" + file_name.replace(".", "_").replace("-", "_")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file_name
        landing.to_csv(path, index=False)
        conn = hook.get_conn()
        try:
            rows = load_csv_into_table(conn, path, settings.raw_dataset, table)
        finally:
            conn.close()
        import hashlib

        md5 = hashlib.md5(path.read_bytes()).hexdigest()
    parameters = {
        "file_name": file_name,
        "file_generation": "1",
        "file_md5": md5,
        "run_id": run_id,
        "expected_rows": str(rows),
    }
    hook.run(render_sql(SQL_FILES["append_raw"], settings, load_table=table), parameters=parameters)
    return table, parameters


def backdate_load(hook: Any, settings: Settings, run_id: str, days: int) -> None:
    """Move the raw rows and log rows that run ``run_id`` appended ``days`` days back, as if their
    file had loaded then: BigQuery partitions both by load date, and daily files load on their
    own days (a test or bench lands its history within minutes)."""
    hook.run(
        f"UPDATE `{settings.raw_dataset}.raw_transactions`"
        f" SET _loaded_at = TIMESTAMP_SUB(_loaded_at, INTERVAL {days} DAY) WHERE _run_id = @run_id;"
        f" UPDATE `{settings.dataset}.ingestion_log`"
        f" SET logged_at = TIMESTAMP_SUB(logged_at, INTERVAL {days} DAY) WHERE run_id = @run_id",
        parameters={"run_id": run_id},
    )


def transform(
    hook: Any, settings: Settings, run_id: str = "r1", *, check: bool = False, publish: bool = True
) -> dict[str, str]:
    """The transform group without Airflow: plan the increment (the day counts of an older
    warehouse counted first, as the plan task does), then 20/30/40 with its bounds as candidates
    (pseudonyms with ``settings``' keyset), the checks if ``check``, then published (unless
    ``publish=False``: tests of the checks, which then plan the same increment again)."""
    from fraud_mlops.ingestion.increment import increment_parameters, plan_increment
    from fraud_mlops.ingestion.training_days import ensure_day_counts
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    hook.run(render_sql(SQL_FILES["setup"], settings))
    warehouse = DuckDBWarehouse(settings, Path(hook.get_database()))
    ensure_day_counts(warehouse, settings)
    bounds = plan_increment(warehouse, settings, run_id)
    parameters = increment_parameters(bounds, run_id)
    for step in TRANSFORMS:
        hook.run(render_sql(SQL_FILES[step], settings), parameters=parameters)
    if check:
        check_quality(hook, settings, bounds)
    if publish:
        hook.run(render_sql(SQL_FILES["publish"], settings), parameters=_bounds(bounds))
    return bounds


def _bounds(bounds: dict[str, str]) -> dict[str, str]:
    return {"loaded_from": bounds["loaded_from"], "event_from": bounds["event_from"]}


def check_quality(hook: Any, settings: Settings, bounds: dict[str, str] | None = None) -> None:
    """50_quality_checks.sql on the candidates of the increment ``bounds`` (by default the
    unpublished increment, planned again: what a run's check step sees)."""
    if bounds is None:
        from fraud_mlops.ingestion.increment import plan_increment
        from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

        bounds = plan_increment(DuckDBWarehouse(settings, Path(hook.get_database())), settings, "check")
    hook.run(render_sql(SQL_FILES["quality_checks"], settings), parameters=_bounds(bounds))


def snapshot(hook: Any, settings: Settings, dag_run: FakeDagRun, publish: int = 1) -> None:
    """60_snapshot.sql for the run's ``publish``-th publish (the name its plan gives)."""
    hook.run(
        render_sql(SQL_FILES["snapshot"], settings, snapshot=snapshot_name(dag_run, publish)),
        parameters={"dag_id": dag_run.dag_id, "run_id": dag_run.run_id},
    )


def ingest_landed(gcs: Any, settings: Settings, run_id: str = "r1") -> tuple[list[Any], list[dict]]:
    """What the ingestion DAGs' file tasks do, in order, without Airflow: validate (streaming, bad
    lines recorded) → load every good file (emulator → DuckDB) → append each → archive (the
    ``load_raw`` group runs every load before the appends)."""
    from fraud_mlops import targets
    from fraud_mlops.ingestion.landed_files import archive, record_bad_lines, validate_landed
    from fraud_mlops.warehouse.bigquery_jobs import append_raw_local_kwargs
    from fraud_mlops.warehouse.duckdb_load import load_into_warehouse

    warehouse = targets.warehouse(settings)
    warehouse.execute(render_sql(SQL_FILES["setup"], settings))
    good, quarantined = validate_landed(
        gcs, settings, run_id,
        on_bad_lines=lambda landed, bad: record_bad_lines(warehouse, landed, bad),
    )  # fmt: skip
    files = [{**landed.to_xcom(), "run_id": run_id} for landed in good]
    for file in files:
        load_into_warehouse(file, settings)
    for file in files:
        append = append_raw_local_kwargs(file)
        warehouse.execute(append["sql"], append["parameters"])
    for landed in good:
        archive(gcs, settings, landed, since=dt.datetime.now(dt.UTC))
    return good, quarantined


def day_counts_of(training: pd.DataFrame) -> list[tuple[str, int, int, int]]:
    """The day counts of a training table, counted with pandas: (UTC event date, rows, label
    sum, rows without card history), by date; what ``training_day_counts`` must hold."""
    days = pd.to_datetime(training["event_time"], utc=True).dt.strftime("%Y-%m-%d")
    grouped = training.assign(
        day=days, no_history=training["seconds_since_prev_txn"].isna().astype(int)
    ).groupby("day")
    counts = grouped.agg(
        rows=("is_fraud", "size"), labels=("is_fraud", "sum"), no_history=("no_history", "sum")
    )
    return [(day, int(r.rows), int(r.labels), int(r.no_history)) for day, r in counts.sort_index().iterrows()]


def published_day_counts(hook: Any) -> list[tuple[str, int, int, int]]:
    """``fraud.training_day_counts`` in the form of :func:`day_counts_of`."""
    rows = hook.get_records(
        "SELECT event_date, row_count, label_sum, no_history_rows FROM `fraud.training_day_counts` ORDER BY event_date"
    )
    return [(str(day), int(n), int(labels), int(no_history)) for day, n, labels, no_history in rows]
