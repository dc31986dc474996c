"""The monitoring task's code on the real local warehouse and real Evidently: HTML reports, a
machine-readable result that flags injected drift and passes undrifted data, and
``monitoring_metrics`` rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from fraud_mlops import targets
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.monitoring.drift import CALENDAR_FEATURES, monitored_features
from fraud_mlops.monitoring.drift_alerts import (
    AlertDecision,
    Decided,
    decide_alert,
    decide_run,
    drift_history,
    record_decision,
)
from fraud_mlops.monitoring.run import run_monitoring
from fraud_mlops.monitoring.windows import Windows
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql
from tests.training.examples import make_examples

END = datetime(2026, 11, 20, 12, tzinfo=UTC)
SPAN = Windows.ending(END, current=timedelta(hours=1), reference=timedelta(hours=6))
N = 2000


def _log_rows(
    frame: pd.DataFrame, scores: np.ndarray, start: datetime, span: timedelta, tag: str
) -> list[dict]:
    step = span / (len(frame) + 1)
    return [
        records.record(
            request_id=f"{tag}-{i}",
            source=records.ONLINE,
            status=200,
            logged_at=start + step * (i + 1),
            card_pseudonym=f"card{i % 50}",
            vector=row,
            score=float(score),
            threshold=0.5,
            model={"name": "fraud-detector", "version": "1", "deployed_model_id": "fraud-detector-v1"},
            latency_ms=3.0,
        )
        for i, (row, score) in enumerate(zip(frame[list(FEATURE_NAMES)].to_numpy(), scores, strict=True))
    ]


@pytest.fixture
def world(local_settings: Settings, snapshot_writer: Callable[[str, pd.DataFrame], Path]) -> Settings:
    training = make_examples(rows=6000, seed=1)
    snapshot_writer("training_snapshot_test", training)
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(render_sql("00_setup.sql", local_settings))
    warehouse.execute(
        f"INSERT INTO `{local_settings.dataset}.snapshot_lineage` (snapshot_name, created_at) "
        "VALUES ('training_snapshot_test', TIMESTAMP('2026-11-19 00:00:00'))"
    )
    return local_settings


def _serve(
    settings: Settings, reference: pd.DataFrame, current: pd.DataFrame, current_scores: np.ndarray
) -> None:
    rng = np.random.default_rng(3)
    rows = _log_rows(
        reference,
        rng.beta(1, 20, len(reference)),
        SPAN.reference_start,
        SPAN.current_start - SPAN.reference_start,
        "ref",
    )
    rows += _log_rows(current, current_scores, SPAN.current_start, SPAN.end - SPAN.current_start, "cur")
    warehouse = targets.warehouse(settings)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(rows))
    append_staged(warehouse, settings)


def _metrics(settings: Settings) -> list[tuple]:
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return conn.execute(
            f"SELECT run_id, check_name, feature, value, drifted, status FROM {settings.dataset}.monitoring_metrics"
        ).fetchall()
    finally:
        conn.close()


def test_undrifted_traffic_passes(world: Settings) -> None:
    served = make_examples(rows=2 * N, seed=2)
    scores = np.random.default_rng(4).beta(1, 20, N)
    _serve(world, served.iloc[:N], served.iloc[N:], scores)

    result = run_monitoring(world, "manual__undrifted", SPAN)

    assert result["drift_detected"] is False, result["verdict"]
    for check in ("skew", "drift", "prediction_drift"):
        assert result["checks"][check]["status"] == "ok"
        report = Path(result["checks"][check]["report"])
        html = report.read_text()
        assert html.lstrip().lower().startswith("<!doctype html>")
        assert ("amount_to_avg_7d" if check != "prediction_drift" else "score") in html
    assert result["checks"]["drift"]["current_rows"] == N
    on_disk = json.loads(Path(result["result_file"]).read_text())
    assert on_disk["drift_detected"] is False and on_disk["windows"] == SPAN.to_dict()


def test_injected_drift_is_flagged_with_the_drifted_features(world: Settings) -> None:
    served = make_examples(rows=2 * N, seed=2)
    current = served.iloc[N:].copy()
    current["amount"] = np.random.default_rng(5).lognormal(4, 1, N)  # amounts from another distribution
    scores = np.random.default_rng(6).beta(2, 5, N)  # and the model answers differently
    _serve(world, served.iloc[:N], current, scores)

    result = run_monitoring(world, "manual__drifted", SPAN)

    assert result["drift_detected"] is True
    assert set(result["flagged_checks"]) == {"skew", "drift", "prediction_drift"}
    assert result["checks"]["drift"]["drifted"] == ["amount"]
    assert result["checks"]["skew"]["drifted"] == ["amount"]
    assert "DRIFT DETECTED" in result["verdict"] and "amount=" in result["verdict"]
    assert Path(result["checks"]["drift"]["report"]).is_file()

    warehouse = targets.warehouse(world)
    warehouse.execute(render_sql("85_monitoring_metrics.sql", world))
    warehouse.execute(render_sql("85_monitoring_metrics.sql", world))  # a rerun replaces its rows
    rows = _metrics(world)
    assert len(rows) == 2 * len(monitored_features(FEATURE_NAMES)) + 1
    drifted = {(r[1], r[2]) for r in rows if r[4]}
    assert drifted == {("skew", "amount"), ("drift", "amount"), ("prediction_drift", "score")}


def test_a_day_against_its_week_is_not_drift_for_its_weekday_and_hours(world: Settings) -> None:
    """The current window is one day (a Tuesday morning), the reference and the training snapshot
    span every weekday and hour: their calendar features differ by construction, not by drift."""
    served = make_examples(rows=2 * N, seed=2)
    current = served.iloc[N:].copy()
    rng = np.random.default_rng(7)
    current["day_of_week"] = 3
    current["hour_of_day"] = rng.integers(8, 11, N)
    _serve(world, served.iloc[:N], current, rng.beta(1, 20, N))

    result = run_monitoring(world, "manual__tuesday", SPAN)

    assert result["drift_detected"] is False, result["verdict"]
    for check in ("skew", "drift"):
        compared = {f["feature"] for f in result["checks"][check]["features"]}
        assert compared == set(FEATURE_NAMES) - set(CALENDAR_FEATURES)


def test_too_little_traffic_is_not_a_verdict(world: Settings) -> None:
    served = make_examples(rows=300, seed=2)
    _serve(world, served.iloc[:150], served.iloc[150:], np.full(150, 0.1))
    result = run_monitoring(world, "manual__thin", SPAN)
    assert result["drift_detected"] is False
    assert result["checks"]["drift"]["status"] == "insufficient_data"
    assert result["checks"]["skew"]["status"] == "insufficient_data"
    # no clearing: drift the previous run flagged is still flagged, as check_drift records it
    now = datetime(2026, 12, 6, 10, tzinfo=UTC)
    before = [Decided("manual__before", now - timedelta(hours=1), frozenset({"drift", "skew"}), True)]
    decided = decide_run(before, result, now, timedelta(hours=24))
    assert decided.unjudged == {"skew", "drift", "prediction_drift"}
    assert decided.state == {"drift", "skew"}
    assert decided.alert == AlertDecision(False, "no verdict for drift, skew (lacking data): still flagged")
    assert decide_run([], result, now, timedelta(hours=24)).alert == AlertDecision(
        False, "no drift flagged; no verdict for drift, prediction_drift, skew (lacking data)"
    )


def test_reports_go_to_composers_data_folder_on_gcp(gcp_settings: Settings) -> None:
    # Composer mounts gs://<environment bucket>/data at this path on every worker
    assert targets.monitoring_reports_uri(gcp_settings) == "/home/airflow/gcs/data/monitoring"


def test_a_recorded_drift_is_announced_once_then_reminded(world: Settings) -> None:
    """The alert rule on what the real warehouse holds: each run's decision, recorded by
    94_drift_alert_record.sql and read back by 95_drift_history.sql."""
    warehouse = targets.warehouse(world)
    day = timedelta(hours=24)
    now = datetime(2026, 12, 6, 9, 0, 3, tzinfo=UTC)
    assert drift_history(warehouse, world, now, "manual__first", day) == []  # nothing recorded yet
    served = make_examples(rows=2 * N, seed=2)
    current = served.iloc[N:].copy()
    current["amount"] = np.random.default_rng(5).lognormal(4, 1, N)
    _serve(world, served.iloc[:N], current, np.random.default_rng(6).beta(2, 5, N))
    flagged = run_monitoring(world, "manual__first", SPAN)["flagged_checks"]
    assert flagged == ["skew", "drift", "prediction_drift"]
    first = decide_alert([], flagged, now, day)
    assert first.alert
    record_decision(warehouse, world, "manual__first", now, flagged, first)
    record_decision(warehouse, world, "manual__first", now, flagged, first)  # a retry records once

    later = now + timedelta(hours=1)
    history = drift_history(warehouse, world, later, "manual__second", day)
    assert history == [Decided("manual__first", now, frozenset(flagged), True)]
    second = decide_alert(history, flagged, later, day)
    assert not second.alert and "unchanged since the alert at 2026-12-06 09:00 UTC" in second.reason
    record_decision(warehouse, world, "manual__second", later, flagged, second)
    # a day after the first: reminded; the second run's quiet decision is read back as such
    history = drift_history(warehouse, world, now + day, "manual__third", day)
    assert [(d.run_id, d.raised) for d in history] == [("manual__second", False), ("manual__first", True)]
    assert decide_alert(history, flagged, now + day, day).reason.startswith("drift persists")
    assert decide_alert(history, flagged, now + day, day).alert
    # the first run retried reads the second's decision, never its own
    assert [d.run_id for d in drift_history(warehouse, world, later, "manual__first", day)] == [
        "manual__second"
    ]
    # decisions before the look-back are not read
    assert drift_history(warehouse, world, now + 3 * day, "manual__fourth", day) == []
    # a run lacking data records which checks did, and the state it carried over
    lacking = now + 2 * day
    record_decision(
        warehouse, world, "manual__lacking", lacking, {"drift"}, second, ["drift", "prediction_drift"]
    )
    assert drift_history(warehouse, world, lacking + timedelta(hours=1), "manual__next", day)[0] == Decided(
        "manual__lacking", lacking, frozenset({"drift"}), False
    )
    recorded = warehouse.records(
        f"SELECT unjudged FROM `{world.dataset}.drift_alerts` WHERE run_id = 'manual__lacking'"
    )
    assert recorded[0][0] == "drift,prediction_drift"  # for people reading the table


def test_a_decisions_table_of_the_first_version_gains_the_new_column(world: Settings) -> None:
    """drift_alerts as the first version made it (no unjudged): the read needs no new column,
    and the record adds it."""
    warehouse = targets.warehouse(world)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{world.dataset}`")
    warehouse.execute(
        f"CREATE TABLE `{world.dataset}.drift_alerts` (run_id STRING, decided_at TIMESTAMP, flagged STRING,"
        " raised BOOL, reason STRING)"
    )
    old = datetime(2026, 12, 6, 9, tzinfo=UTC)
    warehouse.execute(
        f"INSERT INTO `{world.dataset}.drift_alerts` VALUES ('old', TIMESTAMP '2026-12-06 09:00:00+00',"
        " 'drift', TRUE, 'drift started (drift)')"
    )
    # read first, as check_drift does
    earlier = drift_history(warehouse, world, old + timedelta(hours=1), "new", timedelta(hours=24))
    assert earlier == [Decided("old", old, frozenset({"drift"}), True)]
    decision = decide_alert(earlier, [], old + timedelta(hours=1), timedelta(hours=24), ["drift"])
    record_decision(warehouse, world, "new", old + timedelta(hours=1), {"drift"}, decision, ["drift"])
    history = drift_history(warehouse, world, old + timedelta(hours=2), "next", timedelta(hours=24))
    assert history == [
        Decided("new", old + timedelta(hours=1), frozenset({"drift"}), False),
        Decided("old", old, frozenset({"drift"}), True),
    ]
    unjudged = warehouse.records(f"SELECT run_id, unjudged FROM `{world.dataset}.drift_alerts` ORDER BY 1")
    assert [tuple(r) for r in unjudged] == [("new", "drift"), ("old", None)]


def test_only_a_missing_lineage_table_means_no_snapshot_to_check_skew_against(world: Settings) -> None:
    from fraud_mlops.monitoring.windows import newest_snapshot

    warehouse = targets.warehouse(world)
    assert newest_snapshot(warehouse, world) == "training_snapshot_test"
    # a table the query cannot read (here: a column gone) is an error, not "nothing trained":
    # taken for none, skew went unjudged and the run green
    warehouse.execute(f"ALTER TABLE `{world.dataset}.snapshot_lineage` DROP COLUMN created_at")
    with pytest.raises(duckdb.BinderException, match="created_at"):
        newest_snapshot(warehouse, world)
    warehouse.execute(f"DROP TABLE `{world.dataset}.snapshot_lineage`")
    assert newest_snapshot(warehouse, world) is None
