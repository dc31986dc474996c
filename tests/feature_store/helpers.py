"""Builders for small warehouses the sync reads from (the real SQL's output shape)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURES, LATEST_FEATURES_VIEW


def synthetic_rows(n: int, seed: int = 7, null_every: int = 5) -> list[dict[str, Any]]:
    """Rows of the latest-features view: awkward floats, big ints, and some NULLs."""
    rng = random.Random(seed)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            ENTITY_KEY: f"{rng.getrandbits(256):064x}",
            EVENT_TIME: start + timedelta(microseconds=rng.randrange(10**12)),
        }
        for j, f in enumerate(FEATURES):
            if (i + j) % null_every == 0 and f.level == "card":
                row[f.name] = None
            elif f.bq_type == "INT64":
                row[f.name] = rng.randrange(-(2**40), 2**40)
            else:
                row[f.name] = rng.uniform(-1e6, 1e6) / 3.0
        rows.append(row)
    return rows


def write_warehouse(path: Path, schema: str, rows: Sequence[dict[str, Any]]) -> None:
    """A warehouse whose latest-features view selects from a plain table of ``rows``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [ENTITY_KEY, EVENT_TIME, *(f.name for f in FEATURES)]
    types = ["VARCHAR", "TIMESTAMP", *("BIGINT" if f.bq_type == "INT64" else "DOUBLE" for f in FEATURES)]
    conn = duckdb.connect(str(path))
    try:
        conn.execute("SET TimeZone='UTC'")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(
            f"CREATE OR REPLACE TABLE {schema}.latest_rows ("
            + ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True))
            + ")"
        )
        conn.executemany(
            f"INSERT INTO {schema}.latest_rows VALUES ({', '.join('?' * len(columns))})",
            [[r[c].replace(tzinfo=None) if c == EVENT_TIME else r[c] for c in columns] for r in rows],
        )
        conn.execute(
            f"CREATE OR REPLACE VIEW {schema}.{LATEST_FEATURES_VIEW} AS SELECT * FROM {schema}.latest_rows"
        )
    finally:
        conn.close()


PSEUDONYM_KEY = b"feature-store-test-key"


def run_ingestion_sql(settings: Any, landing: Any, key: bytes = PSEUDONYM_KEY) -> None:
    """The project's real ingestion SQL (raw → staging → card_features → training_examples)
    on the local warehouse, for a landing DataFrame shaped like the generator's output."""
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
    from tests.sql_chain import load_landing, transform

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    hook = BigQueryDialectDuckDBHook(database=str(settings.warehouse_path))
    load_landing(hook, settings, landing, "test.csv")
    transform(hook, settings, key)


def read_table(settings: Any, sql: str) -> Any:
    """A query's result as pandas, from a read-only connection (like every local reader)."""
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        conn.execute("SET TimeZone='UTC'")
        return conn.execute(sql).df()
    finally:
        conn.close()
