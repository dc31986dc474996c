"""Training/serving skew, feature drift and prediction drift, computed by Evidently.

Three comparisons per monitoring run, each an Evidently ``Report`` of ``ValueDrift`` metrics
(Jensen-Shannon distance for every numeric column: scipy's, the square root of the divergence
that Vertex AI Model Monitoring's ``ThresholdConfig`` documents, so 0.1 here is 0.01 there):

========================  ==============================  ==============================
check                     reference                       current
========================  ==============================  ==============================
``skew``                  the training snapshot           features served in the window
``drift``                 features served before          features served in the window
``prediction_drift``      scores served before            scores served in the window
========================  ==============================  ==============================

A column drifts when its distance exceeds ``feature_threshold`` (``score_threshold`` for the
score); a check flags ``drift`` when any column drifts (or, with ``drift_share`` > 0, at least
that share of its columns): fraud moves through one feature at a time, amounts first. Too few rows on either side give ``insufficient_data``, never a verdict.

Evidently collects usage telemetry unless ``DO_NOT_TRACK`` is set: :func:`_evidently` sets it
before the first import (docs/monitoring.md).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

SKEW, DRIFT, PREDICTION_DRIFT = "skew", "drift", "prediction_drift"

OK, DRIFTED, INSUFFICIENT = "ok", "drift", "insufficient_data"
SCORE = "score"

#: Model features not compared: the windows differ in length by design (a day against the week
#: before it, or against the training snapshot's weeks), so a day's weekday and hours differ from
#: the week's by construction, not by drift: against a uniform week, one day's ``day_of_week``
#: scores a Jensen-Shannon distance of 0.69 (two days 0.59), about seven times the threshold.
CALENDAR_FEATURES: tuple[str, ...] = ("hour_of_day", "day_of_week")


def monitored_features(feature_names: Sequence[str]) -> tuple[str, ...]:
    """The features the skew and drift checks compare: all but :data:`CALENDAR_FEATURES`."""
    return tuple(name for name in feature_names if name not in CALENDAR_FEATURES)


@dataclass(frozen=True)
class DriftThresholds:
    method: str = "jensenshannon"
    feature_threshold: float = 0.1  # Evidently's default for Jensen-Shannon distance
    score_threshold: float = 0.1
    drift_share: float = 0.0  # share of drifted features needed to flag (0: any one feature)
    min_rows: int = 1000  # below it, sampling noise alone crosses 0.1 (docs/monitoring.md)


DEFAULT_THRESHOLDS = DriftThresholds()


def _evidently() -> Any:
    os.environ["DO_NOT_TRACK"] = "1"  # Evidently's telemetry off, before it is imported
    import evidently

    return evidently


def compare(
    check: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    html_path: Path,
    threshold: float,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """One check: per-column distances, the verdict, and its HTML report at ``html_path``."""
    usable = [c for c in columns if reference[c].notna().any() and current[c].notna().any()]
    result: dict[str, Any] = {
        "check": check,
        "method": thresholds.method,
        "threshold": threshold,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "features": [],
        "drifted": [],
        "report": None,
    }
    if min(len(reference), len(current)) < thresholds.min_rows or not usable:
        result["status"] = INSUFFICIENT
        result["reason"] = (
            f"{len(reference)} reference and {len(current)} current rows (need {thresholds.min_rows} each)"
        )
        return result
    _evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(numerical_columns=list(usable))
    report = Report(
        [ValueDrift(column=c, method=thresholds.method, threshold=threshold) for c in usable],
        metadata={"check": check},
    )
    snapshot = report.run(
        Dataset.from_pandas(current[usable].astype("float64"), data_definition=definition),
        Dataset.from_pandas(reference[usable].astype("float64"), data_definition=definition),
    )
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))
    values = [m["value"] for m in snapshot.dict()["metrics"]]
    for column, value in zip(usable, values, strict=True):
        distance = float(value) if value is not None and not math.isnan(float(value)) else None
        drifted = distance is not None and distance > threshold
        result["features"].append({"feature": column, "value": distance, "drifted": drifted})
        if drifted:
            result["drifted"].append(column)
    share = len(result["drifted"]) / len(usable)
    result["drift_share"] = round(share, 4)
    result["status"] = DRIFTED if result["drifted"] and share >= thresholds.drift_share else OK
    result["report"] = str(html_path)
    return result


def run_checks(
    training: pd.DataFrame,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    feature_columns: Sequence[str],
    out_dir: Path,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """All three checks into ``out_dir`` (``skew.html``, ``drift.html``, ``prediction_drift.html``,
    ``result.json``); the returned result is the JSON's content."""
    out_dir.mkdir(parents=True, exist_ok=True)
    checks = [
        compare(SKEW, training, current, feature_columns, out_dir / "skew.html",
                thresholds.feature_threshold, thresholds),
        compare(DRIFT, reference, current, feature_columns, out_dir / "drift.html",
                thresholds.feature_threshold, thresholds),
        compare(PREDICTION_DRIFT, reference, current, [SCORE], out_dir / "prediction_drift.html",
                thresholds.score_threshold, thresholds),
    ]  # fmt: skip
    flagged = [c["check"] for c in checks if c["status"] == DRIFTED]
    result = {
        **(context or {}),
        "drift_detected": bool(flagged),
        "flagged_checks": flagged,
        "thresholds": asdict(thresholds),
        "checks": {c["check"]: c for c in checks},
        "result_file": str(out_dir / "result.json"),
    }
    (out_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def verdict_line(result: dict[str, Any]) -> str:
    """One line a person reads: which checks flagged, and the worst features."""
    parts = []
    for name, check in result["checks"].items():
        if check["status"] == INSUFFICIENT:
            parts.append(f"{name}: insufficient data")
            continue
        worst = sorted((f for f in check["features"] if f["value"] is not None), key=lambda f: -f["value"])[
            :3
        ]
        shown = ", ".join(f"{f['feature']}={f['value']:.3f}" for f in worst)
        parts.append(f"{name}: {check['status']} ({len(check['drifted'])} drifted; {shown})")
    head = "DRIFT DETECTED" if result["drift_detected"] else "no drift"
    return f"{head} — " + "; ".join(parts)


def metric_rows(result: dict[str, Any], run_id: str, computed_at: str) -> list[dict[str, Any]]:
    """Rows of ``monitoring_metrics``: one per check and feature (and one per check without data)."""
    rows = []
    for check in result["checks"].values():
        base = {
            "run_id": run_id,
            "computed_at": computed_at,
            "check_name": check["check"],
            "method": check["method"],
            "threshold": check["threshold"],
            "status": check["status"],
            "reference_rows": check["reference_rows"],
            "current_rows": check["current_rows"],
        }
        if not check["features"]:
            rows.append({**base, "feature": None, "value": None, "drifted": None})
        for feature in check["features"]:
            rows.append({**base, "feature": feature["feature"], "value": feature["value"],
                         "drifted": feature["drifted"]})  # fmt: skip
    return rows
