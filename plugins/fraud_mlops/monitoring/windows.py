"""What the monitoring checks compare, read through the warehouse seam.

* served features and scores of a window: ``include/sql/84_monitoring_served.sql`` over
  ``prediction_log`` (the JSON feature vector expanded to columns);
* the training snapshot: the newest snapshot's rows (a sample), read the way training reads it
  (a Parquet file locally, the BigQuery snapshot table on gcp through
  ``include/sql/75_snapshot_sample.sql``).

Both are uniform random samples of at most :data:`MAX_ROWS` / :data:`TRAINING_SAMPLE` rows, not
the newest ones: under busy traffic the newest 50,000 answers of a day are its last hours, and
the newest rows of a snapshot its last days, which no longer stand for their window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.monitoring.drift import SCORE
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql, sql_instant

if TYPE_CHECKING:
    from fraud_mlops.warehouse.base import Warehouse

MAX_ROWS = 50_000
TRAINING_SAMPLE = 20_000


@dataclass(frozen=True)
class Windows:
    """``reference = [reference_start, current_start)``, ``current = [current_start, end)``."""

    reference_start: datetime
    current_start: datetime
    end: datetime

    @classmethod
    def ending(
        cls,
        end: datetime | None = None,
        current: timedelta = timedelta(hours=24),
        reference: timedelta = timedelta(days=7),
        current_start: datetime | None = None,
    ) -> Windows:
        end = (end or datetime.now(UTC)).astimezone(UTC)
        start = (current_start or end - current).astimezone(UTC)
        return cls(reference_start=start - reference, current_start=start, end=end)

    def to_dict(self) -> dict[str, str]:
        return {k: sql_instant(v) for k, v in self.__dict__.items()}


def served(settings: Settings, warehouse: Warehouse, start: datetime, end: datetime) -> pd.DataFrame:
    """Online answers in ``[start, end)``: one column per feature, plus ``score`` and ``model_version``."""
    sql = render_sql(
        "84_monitoring_served.sql", settings, start=sql_instant(start), end=sql_instant(end), limit=MAX_ROWS
    )
    return expand_features(warehouse.read_arrow(sql).to_pandas())


def expand_features(frame: pd.DataFrame) -> pd.DataFrame:
    vectors = [json.loads(v) if isinstance(v, str) else {} for v in frame.get("features", [])]
    expanded = pd.DataFrame.from_records(vectors, columns=list(FEATURE_NAMES)).astype("float64")
    out = expanded.assign(**{SCORE: frame[SCORE].astype("float64").to_numpy()}) if len(frame) else expanded
    if SCORE not in out:
        out[SCORE] = pd.Series(dtype="float64")
    if "model_version" in frame:
        out["model_version"] = frame["model_version"].to_numpy()
    return out


def newest_snapshot(warehouse: Warehouse, settings: Settings) -> str | None:
    """The snapshot to check skew against; None before the first ingestion made the lineage table.

    Only a missing table means "nothing trained": any other failure to read it (a 403, a quota,
    a backend error) raises. It was once taken for "no snapshot", and the run went green with
    skew reported as insufficient data, judged and alerted on never."""
    if not warehouse.table_exists(f"{settings.dataset_ref}.snapshot_lineage"):
        return None
    rows = warehouse.records(render_sql("73_newest_snapshot.sql", settings))
    return str(rows[0][0]) if rows else None


def training_sample(
    warehouse: Warehouse, settings: Settings, snapshot: str, n: int = TRAINING_SAMPLE
) -> pd.DataFrame:
    """Up to ``n`` rows of the snapshot's feature columns, drawn uniformly."""
    uri = warehouse.snapshot_uri(snapshot)
    if uri.startswith("bq://"):
        sql = render_sql("75_snapshot_sample.sql", settings, snapshot=snapshot, limit=int(n))
        frame = warehouse.read_arrow(sql).to_pandas()
    else:
        import pyarrow.parquet as pq

        frame = pq.read_table(uri.removeprefix("file://"), columns=list(FEATURE_NAMES)).to_pandas()
        if len(frame) > n:
            frame = frame.sample(n=n, random_state=0)
    return frame.reset_index(drop=True).astype("float64")


def metrics_table(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    schema = pa.schema(
        [("run_id", pa.string()), ("computed_at", pa.timestamp("us", tz="UTC")), ("check_name", pa.string()),
         ("feature", pa.string()), ("method", pa.string()), ("value", pa.float64()), ("threshold", pa.float64()),
         ("drifted", pa.bool_()), ("status", pa.string()), ("reference_rows", pa.int64()),
         ("current_rows", pa.int64())]
    )  # fmt: skip
    fixed = [
        {**r, "computed_at": datetime.fromisoformat(str(r["computed_at"]).replace("Z", "+00:00"))}
        for r in rows
    ]
    return pa.Table.from_pylist(fixed, schema=schema)
