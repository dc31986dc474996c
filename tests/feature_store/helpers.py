"""Builders for small warehouses the sync reads from (the real SQL's output shape)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURES
from tests.latest_features import write_latest_features_view


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
    write_latest_features_view(path, rows, schema)


def run_ingestion_sql(settings: Any, landing: Any) -> None:
    """The project's real ingestion SQL (raw → staging → card_features → training_examples)
    on the local warehouse, for a landing DataFrame shaped like the generator's output."""
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
    from tests.sql_chain import load_landing, transform

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    hook = BigQueryDialectDuckDBHook(database=str(settings.warehouse_path))
    load_landing(hook, settings, landing, "test.csv")
    transform(hook, settings)


def read_table(settings: Any, sql: str) -> Any:
    """A query's result as pandas, from a read-only connection (like every local reader)."""
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        conn.execute("SET TimeZone='UTC'")
        return conn.execute(sql).df()
    finally:
        conn.close()
