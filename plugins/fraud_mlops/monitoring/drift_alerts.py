"""When a drift verdict becomes an alert: on a change of state, and then a reminder a day.

``fraud_monitoring`` runs every hour, and drift, once the traffic has moved, stays until a
model trained on the new traffic is serving: an alert on every flagged run sent the same
e-mail every hour (Cloud Monitoring's log-based policy caps it at 20 a day) and taught people
to ignore the kind. A person needs to hear when drift starts, when what drifts changes, and,
while it lasts, a reminder; the hourly reports and ``monitoring_metrics`` keep every run's
figures either way.

Each run records its decision in the warehouse, the same on both targets: which checks
flagged, whether it alerted, and when it decided (``include/sql/94_drift_alert_record.sql``).
The next run reads the decisions of the last reminder period back
(``include/sql/95_drift_history.sql``): the previous run's flagged checks tell a change, and
the newest alert of the unchanged streak tells whether a reminder is due. Both times come from
the deciding task's own clock, so reminders keep their period.

A check that lacks data this run (too few rows in a window) gives no verdict, not a clearing:
it keeps the state the previous run recorded for it (:func:`carried_state`). Counting it as
clear announced drift that had never stopped as starting again when the data came back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import takewhile
from typing import TYPE_CHECKING, Any

from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql, sql_instant
from fraud_mlops.warehouse.base import timestamp_utc

if TYPE_CHECKING:
    from fraud_mlops.warehouse.base import Warehouse

#: A run the scheduler started a little early still reminds: hourly runs decide a few seconds
#: apart from the hour, and a reminder due at 24 h would otherwise wait for the 25th.
REMINDER_SLACK = timedelta(minutes=10)
DECISIONS_TABLE = "drift_alerts"


@dataclass(frozen=True)
class Decided:
    """An earlier monitoring run's decision: when, which checks flagged drift, whether it alerted."""

    run_id: str
    decided_at: datetime
    flagged: frozenset[str]  # as the run left the state: its checks lacking data carried over
    raised: bool


@dataclass(frozen=True)
class AlertDecision:
    alert: bool
    reason: str


def lookback(remind_after: timedelta) -> timedelta:
    """How far back decisions are read: the reminder period (a day at least: the previous run
    must be among them), and an hour more for the run the period began with."""
    return max(remind_after, timedelta(hours=24)) + timedelta(hours=1)


def _before(earlier: Sequence[Decided], now: datetime) -> list[Decided]:
    return sorted((d for d in earlier if d.decided_at < now), key=lambda d: d.decided_at, reverse=True)


def carried_state(
    earlier: Sequence[Decided], flagged: Iterable[str], unjudged: Iterable[str], now: datetime
) -> frozenset[str]:
    """The flagged checks as this run leaves the state: those that flagged now, and those that
    lack data now and were flagged as the previous run left it."""
    runs = _before(earlier, now)
    previous = runs[0].flagged if runs else frozenset()
    return frozenset(flagged) | (previous & frozenset(unjudged))


def decide_alert(
    earlier: Sequence[Decided],
    flagged: Iterable[str],
    now: datetime,
    remind_after: timedelta,
    unjudged: Iterable[str] = (),
) -> AlertDecision:
    """Whether this run's verdict (``flagged`` checks; ``unjudged``, those lacking data) is
    announced.

    Alerts when drift starts, when the set of flagged checks changes, and, while it stays the
    same, once ``remind_after`` has passed since the streak's last alert (zero: every flagged
    run). A check lacking data keeps its earlier state (:func:`carried_state`), and a run with
    no check flagging now alerts on nothing: drift it carries is announced by a run that sees
    it. ``earlier`` is the decisions of the runs before this one within :func:`lookback`.
    """
    fresh, unjudged = frozenset(flagged), frozenset(unjudged)
    carried = carried_state(earlier, fresh, unjudged, now) - fresh
    if not fresh:
        if carried:
            return AlertDecision(False, f"no verdict for {_names(carried)} (lacking data): still flagged")
        if unjudged:
            return AlertDecision(False, f"no drift flagged; no verdict for {_names(unjudged)} (lacking data)")
        return AlertDecision(False, "no drift")
    flagged = fresh | carried
    names = _names(flagged) + (f"; {_names(carried)} lacking data, as before" if carried else "")
    runs = _before(earlier, now)
    if not runs:
        hours = lookback(remind_after) / timedelta(hours=1)
        return AlertDecision(
            True, f"drift detected ({names}); no decision recorded in the {hours:g} h before"
        )
    previous = runs[0].flagged
    if not previous:
        return AlertDecision(True, f"drift started ({names})")
    if previous != flagged:
        return AlertDecision(True, f"drift changed: {_names(previous)} → {names}")
    streak = list(takewhile(lambda d: d.flagged == flagged, runs))
    last_alert = next((d.decided_at for d in streak if d.raised), None)
    if last_alert is None:
        return AlertDecision(True, f"drift persists ({names}), not announced in the decisions read")
    if now - last_alert >= remind_after - REMINDER_SLACK:
        return AlertDecision(True, f"drift persists ({names}); reminder, last alert {_at(last_alert)}")
    return AlertDecision(
        False,
        f"drift persists ({names}), unchanged since the alert at {_at(last_alert)}; "
        f"next reminder from {_at(last_alert + remind_after - REMINDER_SLACK)}",
    )


@dataclass(frozen=True)
class RunDecision:
    """A monitoring run's verdict as the alert rule takes it, and what the run records."""

    alert: AlertDecision
    state: frozenset[str]  # the flagged checks as the run leaves the state (record_decision)
    unjudged: frozenset[str]  # the checks lacking data


def decide_run(
    earlier: Sequence[Decided], result: Mapping[str, Any], now: datetime, remind_after: timedelta
) -> RunDecision:
    """The alert rule on a run's result (fraud_mlops.monitoring.run.run_monitoring's): which
    checks flagged, and which lacked data (``insufficient_data``: no verdict)."""
    from fraud_mlops.monitoring.drift import INSUFFICIENT

    flagged = result["flagged_checks"]
    unjudged = frozenset(name for name, check in result["checks"].items() if check["status"] == INSUFFICIENT)
    return RunDecision(
        decide_alert(earlier, flagged, now, remind_after, unjudged),
        carried_state(earlier, flagged, unjudged, now),
        unjudged,
    )


def drift_history(
    warehouse: Warehouse, settings: Settings, now: datetime, run_id: str, remind_after: timedelta
) -> list[Decided]:
    """The decisions before this run within :func:`lookback`, newest first (none before the first)."""
    if not warehouse.table_exists(f"{settings.dataset_ref}.{DECISIONS_TABLE}"):
        return []
    sql = render_sql("95_drift_history.sql", settings, since=sql_instant(now - lookback(remind_after)))
    return [
        Decided(str(run), timestamp_utc(at), _flagged(flagged), bool(raised))
        for run, at, flagged, raised in warehouse.records(sql)
        if str(run) != run_id  # a retried task decides as its first try did
    ]


def record_decision(
    warehouse: Warehouse,
    settings: Settings,
    run_id: str,
    now: datetime,
    flagged: Iterable[str],
    decision: AlertDecision,
    unjudged: Iterable[str] = (),
) -> None:
    """This run's decision, for the next runs (94_drift_alert_record.sql; replaces a retry's):
    ``flagged`` as the run leaves the state (:func:`carried_state`)."""
    warehouse.execute(
        render_sql("94_drift_alert_record.sql", settings),
        parameters={
            "run_id": run_id,
            "decided_at": sql_instant(now),
            "flagged": ",".join(sorted(flagged)),
            "raised": "true" if decision.alert else "false",
            "reason": decision.reason,
            "unjudged": ",".join(sorted(unjudged)),
        },
    )


def _flagged(stored: object) -> frozenset[str]:
    return frozenset(name for name in str(stored or "").split(",") if name)


def _names(flagged: frozenset[str]) -> str:
    return ", ".join(sorted(flagged))


def _at(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M UTC")
