"""Parameter values of the training pipeline for the active target.

The compiled pipeline is one file; the two targets differ only in the values built here,
each asked of its seam: where the snapshot is (the warehouse's ``bq://`` table or local Parquet
file) and where the registry and endpoint live (Vertex AI, or files under the local data
folder), see :mod:`fraud_mlops.targets`.
"""

from __future__ import annotations

from typing import Any

from fraud_mlops import targets
from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql


def pipeline_parameters(settings: Settings, snapshot: str, **overrides: Any) -> dict[str, Any]:
    """Values for ``fraud_training``; ``overrides`` set tunables (model_type, min_pr_auc, canary_percent…)."""
    params: dict[str, Any] = {
        "snapshot_uri": targets.warehouse(settings).snapshot_uri(snapshot),
        "snapshot_name": snapshot,
        "registry_uri": targets.registry_uri(settings),
        "endpoint_uri": targets.endpoint_uri(settings),
        "model_name": MODEL_NAME,
    }
    params.update({k: v for k, v in overrides.items() if v is not None})
    return params


def newest_snapshot(settings: Settings) -> str:
    """The newest snapshot recorded in ``snapshot_lineage`` (the same query on both targets)."""
    rows = targets.warehouse(settings).records(render_sql("73_newest_snapshot.sql", settings))
    if not rows:
        raise LookupError(f"no snapshot in {settings.dataset_ref}.snapshot_lineage; run the ingestion first")
    return str(rows[0][0])
