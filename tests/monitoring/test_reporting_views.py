"""Reporting views never stand in for tables ingestion publishes (real DuckDB warehouse).

A monitoring run before the first ingestion must not create ``rejected_rows`` or the training
table with columns of its own: the first publish would then fail to insert the candidates'.
"""

from __future__ import annotations

import pyarrow as pa

from fraud_mlops import targets
from fraud_mlops.features import TRAINING_TABLE
from fraud_mlops.monitoring.reporting import published_tables, refresh_reporting_views
from fraud_mlops.settings import Settings

VIEWS = (
    "rpt_daily_predictions", "rpt_drift_per_feature", "rpt_run_status",
    "rpt_daily_transactions", "rpt_precision_recall", "rpt_ingestion_rejects",
)  # fmt: skip


def _views(warehouse, settings: Settings) -> set[str]:
    """The reporting views that exist (a zero-row read of each, as the warehouse sees them)."""
    found = set()
    for view in VIEWS:
        try:
            warehouse.records(f"SELECT * FROM `{settings.dataset_ref}.{view}` LIMIT 0")
            found.add(view)
        except Exception:
            pass
    return found


def test_monitoring_before_ingestion_declares_no_ingestion_table(local_settings: Settings) -> None:
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {local_settings.dataset}")

    assert refresh_reporting_views(warehouse, local_settings) == {
        TRAINING_TABLE: False,
        "rejected_rows": False,
    }
    assert published_tables(warehouse, local_settings) == {TRAINING_TABLE: False, "rejected_rows": False}
    views = _views(warehouse, local_settings)
    assert {"rpt_daily_predictions", "rpt_drift_per_feature", "rpt_run_status"} <= views
    assert not views & {"rpt_daily_transactions", "rpt_precision_recall", "rpt_ingestion_rejects"}


def test_the_views_over_published_tables_appear_once_they_exist(local_settings: Settings) -> None:
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {local_settings.dataset}")
    warehouse.replace_table(
        "rejected_rows",
        pa.table(
            {
                "transaction_id": ["t1"],
                "reason": ["bad_amount"],
                "rejected_at": pa.array([0], pa.timestamp("us", "UTC")),
            }
        ),
    )

    assert refresh_reporting_views(warehouse, local_settings) == {
        TRAINING_TABLE: False,
        "rejected_rows": True,
    }
    assert "rpt_ingestion_rejects" in _views(warehouse, local_settings)
    rejects = warehouse.records(
        f"SELECT reason, rejected_rows FROM `{local_settings.dataset_ref}.rpt_ingestion_rejects`"
    )
    assert [tuple(r) for r in rejects] == [("bad_amount", 1)]
