"""The one builder of a throwaway local warehouse holding a ``latest_card_features`` view.

Feature-store and batch-scoring tests need exactly that view (the feature view's source) with
rows they chose, without running the whole ingestion SQL: the view selects from a plain table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURES, LATEST_FEATURES_VIEW, STATE_COLUMNS

_DUCKDB_TYPES = {
    "INT64": "BIGINT",
    "ARRAY<INT64>": "BIGINT[]",
    "ARRAY<FLOAT64>": "DOUBLE[]",
    "ARRAY<STRING>": "VARCHAR[]",
}


def write_latest_features_view(path: Path, rows: Sequence[Mapping[str, Any]], schema: str = "fraud") -> None:
    """``rows``: the card pseudonym, a timezone-aware event time, every feature (None = NULL) and,
    optionally, the card's serving state columns (``features.STATE_COLUMNS``; NULL when absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [ENTITY_KEY, EVENT_TIME, *(f.name for f in FEATURES), *(name for name, _ in STATE_COLUMNS)]
    types = [
        "VARCHAR",
        "TIMESTAMPTZ",
        *("BIGINT" if f.bq_type == "INT64" else "DOUBLE" for f in FEATURES),
        *(_DUCKDB_TYPES[t] for _, t in STATE_COLUMNS),
    ]
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
            [[row.get(c) for c in columns] for row in rows],
        )
        conn.execute(
            f"CREATE OR REPLACE VIEW {schema}.{LATEST_FEATURES_VIEW} AS SELECT * FROM {schema}.latest_rows"
        )
    finally:
        conn.close()
