"""One row of ``prediction_log``: the same shape for online answers, shadow scores and batch scores.

``source`` says which: ``online`` (what the caller got), ``shadow`` (a canary's score of the same
request, never returned), ``batch`` (the daily batch scoring). ``features`` is the served feature
vector as a JSON object (name → value), so drift and skew checks see exactly what the model saw.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fraud_mlops.features import ENTITY_KEY, FEATURE_NAMES

TABLE = "prediction_log"
STAGING_TABLE = "prediction_log_staging"

#: column → BigQuery type; the order of include/sql/83_prediction_log.sql and the staging table.
COLUMNS: dict[str, str] = {
    "request_id": "STRING",
    "logged_at": "TIMESTAMP",
    "source": "STRING",
    ENTITY_KEY: "STRING",
    "features": "STRING",
    "score": "FLOAT64",
    "decision": "STRING",
    "threshold": "FLOAT64",
    "model_name": "STRING",
    "model_version": "STRING",
    "deployed_model_id": "STRING",
    "latency_ms": "FLOAT64",
    "status": "INT64",
    "error": "STRING",
}

ONLINE, SHADOW, BATCH = "online", "shadow", "batch"


def features_json(vector: Sequence[float], names: Sequence[str] = FEATURE_NAMES) -> str:
    """The served vector as ``{"name": value}``; NaN (missing) becomes null."""
    return json.dumps({n: (None if v != v else float(v)) for n, v in zip(names, vector, strict=True)})


def record(
    *,
    request_id: str,
    source: str,
    status: int,
    logged_at: datetime | None = None,
    card_pseudonym: str | None = None,
    vector: Sequence[float] | None = None,
    score: float | None = None,
    threshold: float | None = None,
    model: Mapping[str, Any] | None = None,
    latency_ms: float | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """A JSON-ready row (timestamps as RFC 3339 text, so it travels through logs unchanged)."""
    moment = (logged_at or datetime.now(UTC)).astimezone(UTC)
    model = model or {}
    decision = None
    if score is not None and threshold is not None:
        decision = "fraud" if score >= threshold else "legitimate"
    return {
        "request_id": request_id,
        "logged_at": moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "source": source,
        ENTITY_KEY: card_pseudonym,
        "features": features_json(vector) if vector is not None else None,
        "score": None if score is None else round(float(score), 6),
        "decision": decision,
        "threshold": threshold,
        "model_name": model.get("name"),
        "model_version": None if model.get("version") is None else str(model["version"]),
        "deployed_model_id": model.get("deployed_model_id"),
        "latency_ms": latency_ms,
        "status": int(status),
        "error": error,
    }


def arrow_schema() -> Any:
    import pyarrow as pa

    types = {"STRING": pa.string(), "TIMESTAMP": pa.timestamp("us", tz="UTC"), "FLOAT64": pa.float64(),
             "INT64": pa.int64()}  # fmt: skip
    return pa.schema([(name, types[kind]) for name, kind in COLUMNS.items()])


def to_arrow(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Rows (as logged) → an Arrow table with the log's schema (timestamps parsed)."""
    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in rows:
        for name in COLUMNS:
            value = row.get(name)
            if name == "logged_at" and isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            columns[name].append(value)
    return pa.table(columns, schema=arrow_schema())
