"""Batch scoring: every card's latest features, scored by the champion, into a predictions table.

Two steps, the same on both targets:

1. :func:`score_latest_features` (Python, in a worker): read ``latest_card_features`` (the same
   BigQuery SQL as the feature sync), load the registry's ``champion`` version, score all cards
   with its ``predict_proba``, and replace the staging table ``card_predictions_staging``.
2. ``include/sql/80_card_predictions.sql`` (SQL task): in one transaction, delete the run's
   earlier predictions and insert the staged ones, with deterministic prediction ids
   (hash of run id and card). Rerunning a run replaces its rows, never duplicates them.

Scoring in the worker instead of a Vertex batch prediction job keeps one code path: the
champion's own estimator gives probabilities (Vertex's prebuilt scikit-learn container returns
labels), and the table records exactly which model version scored each row.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud_mlops import targets
from fraud_mlops.feature_store.local_store import EVENT_TIME_COLUMN
from fraud_mlops.features import ENTITY_KEY, FEATURE_NAMES
from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

PREDICTIONS_TABLE = "card_predictions"
STAGING_TABLE = "card_predictions_staging"


class NoChampion(RuntimeError):
    """The registry has no ``champion`` version yet: nothing to score with."""


@dataclass(frozen=True)
class Champion:
    estimator: Any
    threshold: float
    model_name: str
    model_version: str


def load_champion(settings: Settings, registry: Any | None = None) -> Champion:
    """The registry's champion: its estimator and the threshold stored in its metadata."""
    from fraud_mlops.registry.artifact import load_model, read_metadata
    from fraud_mlops.registry.backends import open_registry
    from fraud_mlops.registry.base import CHAMPION
    from fraud_mlops.registry.names import MODEL_NAME

    registry = registry or open_registry(targets.registry_uri(settings))
    version = registry.get(MODEL_NAME, CHAMPION)
    if version is None:
        raise NoChampion(f"no {CHAMPION} version of {MODEL_NAME} in the registry")
    with tempfile.TemporaryDirectory(prefix="champion_") as tmp:
        model_dir = _materialise(version.artifact_uri, Path(tmp), settings)
        estimator, metadata = load_model(model_dir), read_metadata(model_dir)
    return Champion(
        estimator=estimator,
        threshold=float(metadata["threshold"]),
        model_name=version.model_name,
        model_version=version.version,
    )


def _materialise(artifact_uri: str, tmp: Path, settings: Settings) -> Path:
    """A local folder holding the artifact (downloaded from Cloud Storage when it lives there)."""
    if not artifact_uri.startswith("gs://"):
        return Path(artifact_uri.removeprefix("file://"))
    from fraud_mlops.registry.artifact import METADATA_FILE, MODEL_FILE
    from fraud_mlops.storage import download_objects

    return download_objects(settings, artifact_uri, (MODEL_FILE, METADATA_FILE), tmp)


def read_latest_features_for_scoring(settings: Settings) -> pa.Table:
    """Every card's latest features, in the online store's layout, from the warehouse."""
    from fraud_mlops.feature_store.source import latest_features_sql

    return targets.warehouse(settings).read_arrow(latest_features_sql(settings))


def score_table(features: pa.Table, champion: Champion, scored_at: datetime) -> pa.Table:
    """The staging rows: one score per card, with the model that produced it."""
    import numpy as np
    import pyarrow as pa

    matrix = np.column_stack(
        [features.column(name).to_numpy(zero_copy_only=False).astype(np.float64) for name in FEATURE_NAMES]
    ) if features.num_rows else np.empty((0, len(FEATURE_NAMES)))  # fmt: skip
    scores = champion.estimator.predict_proba(matrix)[:, 1] if len(matrix) else np.empty(0)
    n = features.num_rows
    return pa.table(
        {
            ENTITY_KEY: features.column(ENTITY_KEY),
            "score": pa.array(scores, type=pa.float64()),
            "threshold": pa.array([champion.threshold] * n, type=pa.float64()),
            "model_name": pa.array([champion.model_name] * n, type=pa.string()),
            "model_version": pa.array([champion.model_version] * n, type=pa.string()),
            "feature_timestamp": pa.array(
                features.column(EVENT_TIME_COLUMN).to_numpy(zero_copy_only=False), type=pa.int64()
            ).cast(pa.timestamp("us", tz="UTC")),
            "scored_at": pa.array([scored_at] * n, type=pa.timestamp("us", tz="UTC")),
        }
    )


def write_staging(settings: Settings, rows: pa.Table) -> None:
    """Replace the staging table the SQL step reads (``80_card_predictions.sql``)."""
    targets.warehouse(settings).replace_table(STAGING_TABLE, rows)


def score_latest_features(settings: Settings, scored_at: datetime | None = None) -> dict[str, Any]:
    """Step 1 of the batch: score every card into the staging table; return a summary."""
    champion = load_champion(settings)
    features = read_latest_features_for_scoring(settings)
    rows = score_table(features, champion, scored_at or datetime.now(UTC))
    write_staging(settings, rows)
    flagged = sum(1 for s in rows.column("score").to_pylist() if s >= champion.threshold)
    summary = {
        "cards_scored": rows.num_rows,
        "flagged_as_fraud": flagged,
        "model_name": champion.model_name,
        "model_version": champion.model_version,
        "threshold": champion.threshold,
    }
    log.info("scored %s", summary)
    return summary
