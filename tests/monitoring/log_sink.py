"""The log sink's table as Cloud Logging creates it, in the local warehouse: the gcp prediction
log's SQL (88) runs on it, not only renders."""

from __future__ import annotations

from datetime import datetime

import duckdb

from fraud_mlops.prediction_log.store import SINK_TABLE
from fraud_mlops.settings import Settings


def sink_table(settings: Settings, entries: list[tuple[datetime, dict[str, str]]]) -> None:
    """The sink's table as Cloud Logging creates it (only the columns the SQL reads), in DuckDB:
    one row per (routed at, ``jsonPayload``) entry."""
    conn = duckdb.connect(str(settings.warehouse_path))
    conn.execute(
        f"CREATE TABLE {settings.dataset}.{SINK_TABLE} "
        '("timestamp" TIMESTAMPTZ, "jsonPayload" STRUCT(log_type VARCHAR, record VARCHAR))'
    )
    for at, payload in entries:
        conn.execute(f"INSERT INTO {settings.dataset}.{SINK_TABLE} VALUES (?, {{'log_type': ?, 'record': ?}})",
                     [at, payload["log_type"], payload["record"]])  # fmt: skip
    conn.close()
