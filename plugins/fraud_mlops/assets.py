"""Airflow Assets the DAGs produce and consume (data-aware scheduling).

URIs follow the Google provider's ``bigquery://project/dataset/table`` scheme on both targets,
so lineage reads the same in the UI whether the warehouse is BigQuery or the local DuckDB.
"""

from __future__ import annotations

from airflow.sdk import Asset

from fraud_mlops import features
from fraud_mlops.settings import get_settings


def _table_asset(table: str, name: str, dataset: str | None = None) -> Asset:
    s = get_settings()
    return Asset(name=name, uri=f"bigquery://{s.project}/{dataset or s.dataset}/{table}")


def raw_transactions() -> Asset:
    return _table_asset("raw_transactions", "fraud_raw_transactions", get_settings().raw_dataset)


def staging_transactions() -> Asset:
    return _table_asset("stg_transactions", "fraud_staging_transactions")


def card_features() -> Asset:
    return _table_asset(features.FEATURES_TABLE, "fraud_card_features")


def training_snapshot() -> Asset:
    """Updated once per new snapshot; the event's ``extra`` carries ``{"snapshot": name}``."""
    return _table_asset("training_snapshots", "fraud_training_snapshot")


def card_predictions() -> Asset:
    """Updated by each batch-scoring run."""
    return _table_asset("card_predictions", "fraud_card_predictions")


def online_features() -> Asset:
    """Updated after each feature-view sync."""
    s = get_settings()
    return Asset(name="fraud_online_features", uri=f"vertexai://{s.project}/featureviews/card_features")


def monitoring_metrics() -> Asset:
    """Updated by each monitoring run (per-feature drift figures)."""
    return _table_asset("monitoring_metrics", "fraud_monitoring_metrics")
