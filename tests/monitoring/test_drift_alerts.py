"""The drift alert's change-of-state rule (fraud_mlops/monitoring/drift_alerts.py), run by run.

The rule on the real warehouse's history is in test_drift_run.py; the gcp DAG's use of it in
tests/orchestration/test_gcp_monitoring_dag.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fraud_mlops.monitoring.drift_alerts import RunState, decide_alert, run_states

T0 = datetime(2026, 12, 6, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
ALL = ("skew", "drift", "prediction_drift")


def _runs(*flagged: tuple[str, ...]) -> list[RunState]:
    """Hourly runs from T0, each with the checks it flagged."""
    return [RunState(f"run{i}", T0 + timedelta(hours=i), frozenset(f)) for i, f in enumerate(flagged)]


def _replay(flagged_per_hour: list[tuple[str, ...]], remind_after: timedelta = DAY) -> list[bool]:
    """Which of the hourly runs alert, each decided from the runs before it."""
    runs = _runs(*flagged_per_hour)
    return [
        decide_alert(runs[:i], run.flagged, run.computed_at, remind_after).alert for i, run in enumerate(runs)
    ]


def test_drift_alerts_when_it_starts_and_not_while_it_stays_the_same() -> None:
    assert _replay([(), ("drift",), ("drift",), ("drift",)]) == [False, True, False, False]


def test_a_change_in_the_flagged_checks_alerts_again() -> None:
    assert _replay([("drift",), ("drift",), ("drift", "skew"), ("drift", "skew"), ("skew",)]) == [
        True, False, True, False, True,
    ]  # fmt: skip


def test_drift_that_clears_and_returns_alerts_again() -> None:
    assert _replay([("drift",), (), ("drift",)]) == [True, False, True]


def test_drift_that_lasts_is_reminded_once_a_period() -> None:
    alerts = _replay([ALL] * 50)
    assert [hour for hour, alerted in enumerate(alerts) if alerted] == [0, 24, 48]


def test_no_reminder_period_alerts_on_every_flagged_run() -> None:
    assert _replay([ALL, ALL, (), ALL], remind_after=timedelta(0)) == [True, True, False, True]


def test_the_reasons_say_what_happened() -> None:
    runs = _runs(("drift",), ("drift",))
    assert decide_alert([], ("drift",), T0, DAY).reason == "drift started (drift)"
    assert decide_alert(runs, ALL, T0 + timedelta(hours=2), DAY).reason == (
        "drift changed: drift → drift, prediction_drift, skew"
    )
    held = decide_alert(runs, ("drift",), T0 + timedelta(hours=2), DAY)
    assert held.reason == (
        "drift persists (drift), unchanged since the alert at 2026-12-06 00:00 UTC; "
        "next reminder from 2026-12-07 00:00 UTC"
    )
    assert (
        decide_alert(runs, (), T0 + timedelta(hours=2), DAY) == (decide_alert([], (), T0, DAY))
        and not decide_alert([], (), T0, DAY).alert
    )


def test_a_rerun_of_an_older_run_ignores_the_runs_after_it() -> None:
    """A cleared run of hour 1 decides from hour 0 alone, as it did when it first ran."""
    runs = _runs(("drift",), ("drift", "skew"), ("drift", "skew"))
    first_decision = decide_alert(runs[:1], ("drift", "skew"), runs[1].computed_at, DAY)
    rerun = decide_alert(runs[:1] + runs[2:], ("drift", "skew"), runs[1].computed_at, DAY)
    assert first_decision == rerun and rerun.alert


@pytest.mark.parametrize(
    "computed_at",
    [
        datetime(2026, 12, 6, 1),  # DuckDB: naive UTC
        datetime(2026, 12, 6, 2, tzinfo=UTC) - timedelta(hours=1),  # BigQuery's client: aware
        "2026-12-06T01:00:00Z",  # RFC 3339 text
    ],
)
def test_run_states_take_each_engines_timestamps(computed_at: object) -> None:
    rows = [
        ("run1", computed_at, "drift", "drift"),
        ("run1", computed_at, "skew", "ok"),
        ("run1", computed_at, "prediction_drift", "insufficient_data"),
        ("run0", datetime(2026, 12, 6, 0), "drift", "ok"),
    ]
    assert run_states(rows) == [
        RunState("run0", T0, frozenset()),
        RunState("run1", T0 + timedelta(hours=1), frozenset({"drift"})),
    ]
