"""Run the project's real ingestion SQL on the local warehouse, outside Airflow (shared by suites)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.duckdb_load import load_csv_into_table

TRANSFORMS = ("staging", "card_features", "training_examples")


class FakeDagRun:
    def __init__(self, run_id: str = "manual__test", dag_id: str = "fraud_ingest_test") -> None:
        self.run_id = run_id
        self.dag_id = dag_id
        self.run_after = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def load_landing(
    hook: Any, settings: Settings, landing: pd.DataFrame, file_name: str, run_id: str = "r1"
) -> None:
    """Land a DataFrame like a file: CSV → load table → 10_append_raw.sql (idempotent append)."""
    hook.run(render_sql(SQL_FILES["setup"], settings))
    table = "raw_load_" + file_name.replace(".", "_").replace("-", "_")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file_name
        landing.to_csv(path, index=False)
        conn = hook.get_conn()
        try:
            load_csv_into_table(conn, path, settings.raw_dataset, table)
        finally:
            conn.close()
        import hashlib

        md5 = hashlib.md5(path.read_bytes()).hexdigest()
    hook.run(
        render_sql(SQL_FILES["append_raw"], settings, load_table=table),
        parameters={"file_name": file_name, "file_generation": "1", "file_md5": md5, "run_id": run_id},
    )


def transform(hook: Any, settings: Settings, *, publish: bool = True) -> None:
    """Staging, features, training examples as candidates (pseudonyms with ``settings``'
    keyset), then published unchecked unless ``publish=False`` (tests of the checks)."""
    for step in TRANSFORMS:
        hook.run(render_sql(SQL_FILES[step], settings))
    if publish:
        hook.run(render_sql(SQL_FILES["publish"], settings))


def check_quality(hook: Any, settings: Settings) -> None:
    hook.run(render_sql(SQL_FILES["quality_checks"], settings))


def snapshot(hook: Any, settings: Settings, dag_run: FakeDagRun) -> None:
    hook.run(
        render_sql(SQL_FILES["snapshot"], settings, dag_run=dag_run),
        parameters={"dag_id": dag_run.dag_id, "run_id": dag_run.run_id},
    )
