"""What an incremental transform run processes, as constants its SQL filters partitions with.

BigQuery prunes partitions (and accepts tables with ``require_partition_filter``) only for
filters on constants, query parameters included, not for bounds computed by a subquery. So a
small planning step reads the increment's bounds first, and the transform SQL (20/30/40) gets
them as parameters:

* ``loaded_from``: raw rows of the files not yet transformed were appended at or after this
  (``raw_transactions`` is partitioned by load time);
* ``event_from``: the first event date whose partitions the run reads or rewrites: the
  earliest new event, less the widest feature window (the look-back recomputed features need);
* ``older_until``: the end of the older staging the card features may need, the last
  transaction before ``event_from`` of a card whose serving state lacks it: ``event_from`` when
  a published transaction lies on or after the increment's first new day (a late or
  overlapping file), else ``NOTHING_BEFORE`` (in order: no state lacks it, no partition is read).

With nothing new both are far in the future and the transform SQL touches no partition.

``published_by_run`` counts the files the planning run published already. It is not zero only
in a run cleared after its ``publish`` (its snapshot or feature sync failed): with nothing new,
that run skips the transform but takes its snapshot and syncs again, which it would never do
otherwise (its increment is published, so no later plan holds those files). Run ids are
matched alone, not with their DAG's id: the ingestion DAGs' run ids carry their run's time to
the microsecond (continuous, event and manual runs) or a daily schedule's hour.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, WIDEST_WINDOW_SECONDS, render_sql
from fraud_mlops.warehouse.base import Warehouse

#: The bounds of an increment with nothing new: far in the future, yet a year before the end of
#: BigQuery's TIMESTAMP range, because the SQL adds the widest window to ``event_from`` and
#: BigQuery fails a query whose TIMESTAMP_ADD passes 9999-12-31 (DuckDB would not:
#: tests/ingestion/test_increment_bounds.py).
NOTHING_FROM = datetime(9999, 1, 1, tzinfo=UTC)
#: ``older_until`` of an increment that needs no older staging: every partition is later.
NOTHING_BEFORE = date(1, 1, 1)
#: Margin between a raw row's append and its file's log row. Both are written in one
#: transaction (10_append_raw.sql), where CURRENT_TIMESTAMP() is the transaction's start on
#: DuckDB (documented) and on BigQuery; were it a statement's start, the statements between the
#: two inserts take seconds, not an hour. Raw rows are partitioned by load date, so a run reads
#: the day before its first log time's only when that time is within the margin after midnight
#: (a day's margin read two days of raw rows on every run: bench/bench_bigquery_bytes.py).
LOG_MARGIN = timedelta(hours=1)
#: The plan's bounds the transform SQL takes as query parameters.
TRANSFORM_PARAMETERS = ("loaded_from", "event_from", "older_until")


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def plan_increment(warehouse: Warehouse, settings: Settings, run_id: str) -> dict[str, str]:
    """The transform parameters of the next increment for the DAG run ``run_id`` (STRING values,
    as every query parameter)."""
    ((first_logged, files, loaded_by_run, published_by_run, publishes_by_run),) = warehouse.records(
        render_sql(SQL_FILES["increment_files"], settings), {"run_id": run_id}
    )
    first_logged_at = _utc(first_logged)
    loaded_from = first_logged_at - LOG_MARGIN if first_logged_at else NOTHING_FROM
    loaded_from_text = loaded_from.strftime("%Y-%m-%d %H:%M:%S.%f")
    ((first_event,),) = warehouse.records(
        render_sql(SQL_FILES["increment_event_from"], settings), {"loaded_from": loaded_from_text}
    )
    first_event_time = _utc(first_event)
    older_until = NOTHING_BEFORE
    if first_event_time is None or first_event_time >= NOTHING_FROM:
        event_from = NOTHING_FROM.date()
    else:
        event_from = first_event_time.date() - timedelta(days=math.ceil(WIDEST_WINDOW_SECONDS / 86400))
        ((later_rows,),) = warehouse.records(
            render_sql(SQL_FILES["increment_late_rows"], settings), {"event_from": event_from.isoformat()}
        )
        if later_rows:
            older_until = event_from
    return {
        "loaded_from": loaded_from_text,
        "event_from": event_from.isoformat(),
        "older_until": older_until.isoformat(),
        "files": str(files),
        "loaded_by_run": str(loaded_by_run or 0),
        "published_by_run": str(published_by_run),
        "publishes_by_run": str(publishes_by_run),
    }


def increment_parameters(plan: dict[str, str], run_id: str) -> dict[str, str]:
    """The query parameters of the transform steps (20/30/40) from a plan."""
    return {name: plan[name] for name in TRANSFORM_PARAMETERS} | {"run_id": run_id}


def has_files(plan: dict[str, str]) -> bool:
    """Whether the increment holds any loaded file (its rows may all be rejects: still published)."""
    return int(plan["files"]) > 0


#: What a run does after its plan (:func:`next_step`).
TRANSFORM, SNAPSHOT_ONLY, NOTHING = "transform", "snapshot only", "nothing"


def next_step(plan: dict[str, str], loaded_files: bool) -> str:
    """What the planning run does next.

    ``TRANSFORM`` (then snapshot and sync) when some loaded file awaits its transform and this
    run loaded files now or earlier (a run cleared after it failed between its loads and its
    publish: its files are archived, so it loads none again). Else ``SNAPSHOT_ONLY`` when it
    published files before: a run cleared after its publish (its snapshot or sync failed), whose
    files are published and archived, so no later plan holds them and nothing else would
    snapshot and sync what it published. Else ``NOTHING``: files another run loaded and left
    untransformed (it failed before its publish, a failed quality check among the causes) wait
    for a run that loads a file, as they always did, or for that run to be cleared, not for
    every run that loads none (each would fail the same check again).
    """
    if has_files(plan) and (loaded_files or int(plan["loaded_by_run"]) > 0):
        return TRANSFORM
    return SNAPSHOT_ONLY if int(plan["published_by_run"]) > 0 else NOTHING


def snapshot_publish(plan: dict[str, str], step: str) -> int | None:
    """Which of this run's publishes its snapshot holds (its name: ``sql_templates.snapshot_name``),
    ``None`` for no snapshot: the publish the transform is about to make, or the last one made
    (``SNAPSHOT_ONLY``). A run cleared after its publish that finds new files publishes again,
    and takes another snapshot: the first, created once, does not hold the new rows."""
    if step == TRANSFORM:
        return int(plan["publishes_by_run"]) + 1
    return int(plan["publishes_by_run"]) if step == SNAPSHOT_ONLY else None


def describe(plan: dict[str, str], loaded_files: bool = True) -> str:
    step = next_step(plan, loaded_files)
    if step == SNAPSHOT_ONLY:
        return (
            f"nothing new to transform, but this run published {plan['published_by_run']} file(s) before "
            "(a cleared run): transform, checks and publish are skipped; the snapshot and feature sync run again"
        )
    if step == NOTHING and has_files(plan):
        return (
            f"no file to load in this run: the {plan['files']} loaded file(s) awaiting their transform were "
            "loaded by a run that failed before its publish (a failed quality check: docs/data_quality.md); "
            "they go with the next run that loads a file, or when that run is cleared. The rest is skipped"
        )
    if step == NOTHING:
        return "nothing new to transform: transform, checks, publish, snapshot and feature sync are skipped"
    if date.fromisoformat(plan["event_from"]) >= NOTHING_FROM.date():
        return f"{plan['files']} new file(s), no row with a usable event time: every row is rejected"
    older = (
        f"a published transaction lies on or after its first new day: older staging read before {plan['older_until']}"
        if date.fromisoformat(plan["older_until"]) > NOTHING_BEFORE
        else "in order: no older staging read"
    )
    return f"{plan['files']} new file(s); raw from {plan['loaded_from']}, event dates from {plan['event_from']}; {older}"
