"""The pipeline's parameter values per target, and the newest snapshot (one query, both targets)."""

from __future__ import annotations

import pytest

from fraud_mlops import targets
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql
from fraud_mlops.training.pipeline_params import newest_snapshot, pipeline_parameters

SNAPSHOT = "training_snapshot_20260901T000000_abcd1234"


def test_local_parameters_point_at_the_snapshot_file_registry_and_endpoint(local_settings: Settings) -> None:
    local = local_settings.local_dir
    assert pipeline_parameters(local_settings, SNAPSHOT, min_pr_auc=0.6, model_type=None) == {
        "snapshot_uri": str(local / "warehouse" / "snapshots" / f"{SNAPSHOT}.parquet"),
        "snapshot_name": SNAPSHOT,
        "registry_uri": str(local / "registry"),
        "endpoint_uri": str(local / "endpoints" / "fraud-endpoint.json"),
        "model_name": "fraud-detector",
        "min_pr_auc": 0.6,
    }


def test_newest_snapshot_is_the_newest_lineage_row(local_settings: Settings) -> None:
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(render_sql("00_setup.sql", local_settings))
    with pytest.raises(LookupError, match="run the ingestion first"):
        newest_snapshot(local_settings)
    for name, created in (("training_snapshot_b", "2026-09-02"), ("training_snapshot_a", "2026-09-01")):
        warehouse.execute(
            f"INSERT INTO fraud.snapshot_lineage (snapshot_name, created_at) VALUES ('{name}', TIMESTAMP '{created}')"
        )
    assert newest_snapshot(local_settings) == "training_snapshot_b"
