"""One monitoring run, as the ``fraud_monitoring`` DAG's ``check_drift`` task calls it.

Reads the training snapshot and the served windows through the warehouse, runs the three
Evidently checks (:mod:`.drift`), writes the HTML reports and ``result.json`` into
:func:`fraud_mlops.targets.monitoring_reports_uri` (``.local/monitoring`` locally; on Composer
the environment bucket's ``data/`` folder through its FUSE mount), and stages the per-feature
figures for ``include/sql/85_monitoring_metrics.sql``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_mlops import targets
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.monitoring import drift, windows
from fraud_mlops.settings import Settings

METRICS_STAGING_TABLE = "monitoring_metrics_staging"


def run_folder_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:120]


def run_monitoring(
    settings: Settings,
    run_id: str,
    span: windows.Windows,
    thresholds: drift.DriftThresholds = drift.DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    warehouse = targets.warehouse(settings)
    current = windows.served(settings, warehouse, span.current_start, span.end)
    reference = windows.served(settings, warehouse, span.reference_start, span.current_start)
    snapshot = windows.newest_snapshot(warehouse, settings)
    training = (
        windows.training_sample(warehouse, settings, snapshot)
        if snapshot
        else pd.DataFrame(columns=list(FEATURE_NAMES), dtype="float64")
    )
    out_dir = Path(targets.monitoring_reports_uri(settings)) / run_folder_name(run_id)
    result = drift.run_checks(
        training,
        reference,
        current,
        drift.monitored_features(FEATURE_NAMES),
        out_dir,
        thresholds,
        context={"run_id": run_id, "windows": span.to_dict(), "training_snapshot": snapshot},
    )
    computed_at = datetime.now(UTC).isoformat()
    warehouse.replace_table(
        METRICS_STAGING_TABLE, windows.metrics_table(drift.metric_rows(result, run_id, computed_at))
    )
    result["verdict"] = drift.verdict_line(result)
    return result
