"""Read the warehouse's latest-features view (local sync, batch scoring) in the store layout.

The query is BigQuery SQL like every other query of the project; locally it is transpiled and
run on DuckDB, which admits one writing process or many readers: the warehouse is opened
read-only, the view copied into Arrow in one query, and the file closed before the slower
SQLite writes start. The fingerprint is computed over that in-memory copy, so the view is
evaluated once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fraud_mlops.feature_store.local_store import EVENT_TIME_COLUMN
from fraud_mlops.features import ENTITY_KEY, FEATURE_NAMES, FEATURES, LATEST_FEATURES_VIEW
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class LatestFeatures:
    """The view's rows as Arrow, in store layout: key, event time (µs), features."""

    table: pa.Table
    fingerprint: str
    source: str

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)

    def row_batches(self, batch_size: int = 100_000) -> Iterator[list[tuple[Any, ...]]]:
        for batch in self.table.to_batches(max_chunksize=batch_size):
            columns = [column.to_pylist() for column in batch.columns]
            yield list(zip(*columns, strict=True))


def latest_features_sql(settings: Settings, feature_names: Sequence[str] = FEATURE_NAMES) -> str:
    """``include/sql/74_online_store_rows.sql``: the view's rows in the store layout (BigQuery SQL)."""
    types = {f.name: f.bq_type for f in FEATURES}
    return render_sql(
        "74_online_store_rows.sql",
        settings,
        store_features=[(name, types[name]) for name in feature_names],
        event_time_column=EVENT_TIME_COLUMN,
    )


def fingerprint_query(relation: str, feature_names: Sequence[str] = FEATURE_NAMES) -> str:
    """Order-independent digest of the rows: equal data, equal fingerprint."""
    columns = ", ".join((ENTITY_KEY, EVENT_TIME_COLUMN, *feature_names))
    return (
        f"SELECT count(*), coalesce(bit_xor(hash({columns})), 0), "
        f"coalesce(sum(hash({columns})::HUGEINT), 0) FROM {relation}"
    )


def read_latest_features(settings: Settings, feature_names: Sequence[str] = FEATURE_NAMES) -> LatestFeatures:
    """The local warehouse's latest-features view, read in one read-only query."""
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(settings)
    table = warehouse.read_arrow(latest_features_sql(settings, feature_names))
    return LatestFeatures(
        table=table,
        fingerprint=arrow_fingerprint(table, feature_names),
        source=f"duckdb:{warehouse.path}#{settings.dataset}.{LATEST_FEATURES_VIEW}",
    )


def arrow_fingerprint(table: pa.Table, feature_names: Sequence[str] = FEATURE_NAMES) -> str:
    import duckdb

    conn = duckdb.connect()
    try:
        conn.register("latest_rows", table)
        row = conn.execute(fingerprint_query("latest_rows", feature_names)).fetchone()
    finally:
        conn.close()
    assert row is not None
    count, xor, total = row
    return f"{count}-{int(xor):016x}-{int(total):x}"
