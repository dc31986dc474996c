"""When a drift verdict becomes an alert: on a change of state, and then a reminder a day.

``fraud_monitoring`` runs every hour, and drift, once the traffic has moved, stays until a
model trained on the new traffic is serving: an alert on every flagged run sent the same
e-mail every hour (Cloud Monitoring's log-based policy caps it at 20 a day) and taught people
to ignore the kind. A person needs to hear when drift starts, when what drifts changes, and,
while it lasts, a reminder; the hourly reports and ``monitoring_metrics`` keep every run's
figures either way.

The state is what the warehouse already holds, the same on both targets: each earlier run's
flagged checks in ``monitoring_metrics`` (``include/sql/94_drift_history.sql``). Which of those
runs alerted is not stored: it is replayed from their states by the same rule, so nothing beside
the table needs keeping, and a retried task, which leaves its own run out, decides as its first
try did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql, sql_instant
from fraud_mlops.warehouse.base import timestamp_utc

if TYPE_CHECKING:
    from fraud_mlops.warehouse.base import Warehouse

#: How far back the history is read: the rule replays it, and a streak older than this starts
#: its reminders from the oldest run read (one reminder more at worst).
HISTORY = timedelta(days=7)


@dataclass(frozen=True)
class RunState:
    """One earlier monitoring run: when it computed, and which checks flagged drift."""

    run_id: str
    computed_at: datetime
    flagged: frozenset[str]


@dataclass(frozen=True)
class AlertDecision:
    alert: bool
    reason: str


def drift_history(warehouse: Warehouse, settings: Settings, now: datetime, run_id: str) -> list[RunState]:
    """The runs before this one within :data:`HISTORY`, oldest first (none before the first)."""
    if not warehouse.table_exists(f"{settings.dataset_ref}.monitoring_metrics"):
        return []
    sql = render_sql("94_drift_history.sql", settings, since=sql_instant(now - HISTORY))
    return [state for state in run_states(warehouse.records(sql)) if state.run_id != run_id]


def run_states(rows: Iterable[Sequence[object]]) -> list[RunState]:
    """``94_drift_history.sql``'s rows (run, computed_at, check, status) → one state per run, oldest first."""
    runs: dict[str, tuple[datetime, set[str]]] = {}
    for run_id, computed, check, status in rows:
        computed_at = timestamp_utc(computed)
        at, flagged = runs.setdefault(str(run_id), (computed_at, set()))
        runs[str(run_id)] = (min(at, computed_at), flagged)
        if status == "drift":
            flagged.add(str(check))
    states = [RunState(run_id, at, frozenset(flagged)) for run_id, (at, flagged) in runs.items()]
    return sorted(states, key=lambda s: (s.computed_at, s.run_id))


def decide_alert(
    history: Sequence[RunState], flagged: Iterable[str], now: datetime, remind_after: timedelta
) -> AlertDecision:
    """Whether this run's verdict (``flagged`` checks) is announced.

    Alerts when drift starts, when the set of flagged checks changes, and, while it stays the
    same, once ``remind_after`` has passed since the last alert (zero: every flagged run).
    ``history`` is the earlier runs, this run left out (a rerun must not see itself).
    """
    flagged = frozenset(flagged)
    if not flagged:
        return AlertDecision(False, "no drift")
    last_alert: datetime | None = None
    previous: frozenset[str] = frozenset()
    for run in sorted(history, key=lambda s: s.computed_at):
        if run.computed_at >= now:
            continue  # a run after this one (a rerun of an older run) cannot have announced it
        if run.flagged and (
            run.flagged != previous or last_alert is None or run.computed_at - last_alert >= remind_after
        ):
            last_alert = run.computed_at
        elif not run.flagged:
            last_alert = None
        previous = run.flagged
    names = ", ".join(sorted(flagged))
    if not previous:
        return AlertDecision(True, f"drift started ({names})")
    if flagged != previous:
        return AlertDecision(True, f"drift changed: {', '.join(sorted(previous))} → {names}")
    if last_alert is None or now - last_alert >= remind_after:
        return AlertDecision(True, f"drift persists ({names}); reminder, last alert {_at(last_alert)}")
    return AlertDecision(
        False,
        f"drift persists ({names}), unchanged since the alert at {_at(last_alert)}; "
        f"next reminder from {_at(last_alert + remind_after)}",
    )


def _at(instant: datetime | None) -> str:
    return "before the history read" if instant is None else instant.strftime("%Y-%m-%d %H:%M UTC")
