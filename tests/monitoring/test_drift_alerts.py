"""The drift alert's change-of-state rule (fraud_mlops/monitoring/drift_alerts.py), run by run.

Each simulated run decides from the decisions recorded before it, as ``check_drift`` does; the
round trip through the real warehouse is in test_drift_run.py, the gcp DAG's use of it in
tests/orchestration/test_gcp_monitoring_dag.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from fraud_mlops.monitoring.drift_alerts import (
    REMINDER_SLACK,
    AlertDecision,
    Decided,
    carried_state,
    decide_alert,
    lookback,
)

T0 = datetime(2026, 12, 6, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
ALL = ("skew", "drift", "prediction_drift")


def _hourly(
    flagged_per_run: list[tuple[str, ...]], remind_after: timedelta = DAY, jitter_seconds: float = 0.0
) -> list[bool]:
    """Which of the hourly runs alert, each deciding from the decisions recorded before it within
    the look-back (as 95_drift_history.sql reads them), at its hour plus up to ``jitter_seconds``."""
    rng = random.Random(0)
    recorded: list[Decided] = []
    alerts = []
    for hour, checks in enumerate(flagged_per_run):
        # "?name": the check lacks data this run
        flagged = [c for c in checks if not c.startswith("?")]
        unjudged = [c[1:] for c in checks if c.startswith("?")]
        now = T0 + timedelta(hours=hour, seconds=rng.uniform(-jitter_seconds, jitter_seconds))
        read = [d for d in recorded if d.decided_at >= now - lookback(remind_after)]
        decision = decide_alert(read, flagged, now, remind_after, unjudged)
        state = carried_state(read, flagged, unjudged, now)
        recorded.append(Decided(f"run{hour}", now, state, decision.alert))
        alerts.append(decision.alert)
    return alerts


def test_drift_alerts_when_it_starts_and_not_while_it_stays_the_same() -> None:
    assert _hourly([(), ("drift",), ("drift",), ("drift",)]) == [False, True, False, False]


def test_a_change_in_the_flagged_checks_alerts_again() -> None:
    assert _hourly([("drift",), ("drift",), ("drift", "skew"), ("drift", "skew"), ("skew",)]) == [
        True, False, True, False, True,
    ]  # fmt: skip


def test_drift_that_clears_and_returns_alerts_again() -> None:
    assert _hourly([("drift",), (), ("drift",)]) == [True, False, True]


@pytest.mark.parametrize("jitter_seconds", [0.0, 120.0])
def test_drift_that_lasts_weeks_is_reminded_once_a_day(jitter_seconds: float) -> None:
    """Three weeks of the same drift, runs starting up to two minutes off the hour: an alert,
    then one a day, each 24 hours after the last, never an hour late and never stopping."""
    alerts = _hourly([ALL] * (21 * 24), jitter_seconds=jitter_seconds)
    assert [hour for hour, alerted in enumerate(alerts) if alerted] == list(range(0, 21 * 24, 24))


def test_a_reminder_period_longer_than_a_day_is_kept() -> None:
    alerts = _hourly([ALL] * (10 * 24), remind_after=timedelta(hours=72))
    assert [hour for hour, alerted in enumerate(alerts) if alerted] == [0, 72, 144, 216]


def test_no_reminder_period_alerts_on_every_flagged_run() -> None:
    assert _hourly([ALL, ALL, (), ALL], remind_after=timedelta(0)) == [True, True, False, True]


def test_a_paused_dag_alerts_on_its_first_run_back() -> None:
    """Nothing decided within the look-back: the drift is announced, saying so."""
    earlier = [Decided("run0", T0, frozenset(ALL), True)]
    decision = decide_alert(earlier, ALL, T0 + timedelta(days=3), DAY)
    assert decision.alert
    read = [d for d in earlier if d.decided_at >= T0 + timedelta(days=3) - lookback(DAY)]
    assert decide_alert(read, ALL, T0 + timedelta(days=3), DAY).reason == (
        "drift detected (drift, prediction_drift, skew); no decision recorded in the 25 h before"
    )


def test_an_alert_that_could_not_be_sent_is_sent_by_the_next_run() -> None:
    """check_drift records a decision whose alert the sink refused as not raised."""
    unsent = Decided("run0", T0, frozenset({"drift"}), raised=False)
    decision = decide_alert([unsent], ("drift",), T0 + timedelta(hours=1), DAY)
    assert decision == AlertDecision(True, "drift persists (drift), not announced in the decisions read")


def test_the_reasons_say_what_happened() -> None:
    first = Decided("run0", T0, frozenset({"drift"}), True)
    second = Decided("run1", T0 + timedelta(hours=1), frozenset({"drift"}), False)
    cleared = Decided("run1", T0 + timedelta(hours=1), frozenset(), False)
    at = T0 + timedelta(hours=2)
    assert decide_alert([cleared, first], ("drift",), at, DAY).reason == "drift started (drift)"
    assert decide_alert([first, second], ALL, at, DAY).reason == (
        "drift changed: drift → drift, prediction_drift, skew"
    )
    assert decide_alert([first, second], ("drift",), at, DAY).reason == (
        "drift persists (drift), unchanged since the alert at 2026-12-06 00:00 UTC; "
        f"next reminder from {(T0 + DAY - REMINDER_SLACK):%Y-%m-%d %H:%M} UTC"
    )
    reminder = decide_alert([first, second], ("drift",), T0 + DAY, DAY)
    assert reminder.alert and reminder.reason == (
        "drift persists (drift); reminder, last alert 2026-12-06 00:00 UTC"
    )
    assert decide_alert([first, second], (), at, DAY) == decide_alert([], (), at, DAY)
    assert not decide_alert([], (), at, DAY).alert


def test_a_run_lacking_data_is_no_clearing() -> None:
    """A check with too few rows gives no verdict: drift it flagged before is still flagged, so
    the run after it does not announce it as starting again (it did: a run lacking data
    recorded no drift)."""
    assert _hourly([("drift",), ("?drift",), ("drift",), ("drift",)]) == [True, False, False, False]
    # cleared only by a run that sees no drift
    assert _hourly([("drift",), ("?drift",), (), ("drift",)]) == [True, False, False, True]
    # a check lacking data that had not flagged stays clear
    assert _hourly([("skew",), ("skew", "?drift"), ("skew", "drift")]) == [True, False, True]


def test_reminders_keep_their_period_across_runs_lacking_data() -> None:
    runs = [ALL] * 10 + [tuple(f"?{c}" for c in ALL)] * 5 + [ALL] * 40
    assert [hour for hour, alerted in enumerate(_hourly(runs)) if alerted] == [0, 24, 48]


def test_the_reasons_say_a_check_lacked_data() -> None:
    first = Decided("run0", T0, frozenset({"drift", "skew"}), True)
    at = T0 + timedelta(hours=1)
    assert decide_alert([first], (), at, DAY, unjudged=("drift", "skew")) == AlertDecision(
        False, "no verdict for drift, skew (lacking data): still flagged"
    )
    assert carried_state([first], (), ("drift", "skew", "prediction_drift"), at) == {"drift", "skew"}
    assert decide_alert([first], ("skew",), at, DAY, unjudged=("drift",)).reason == (
        "drift persists (drift, skew; drift lacking data, as before), unchanged since the alert at "
        f"2026-12-06 00:00 UTC; next reminder from {(T0 + DAY - REMINDER_SLACK):%Y-%m-%d %H:%M} UTC"
    )
