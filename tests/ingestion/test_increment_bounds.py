"""The increment's bounds, in every expression the transform SQL computes from them alone, stay
inside BigQuery's TIMESTAMP range (0001-01-01 to 9999-12-31 23:59:59.999999 UTC).

BigQuery evaluates an expression of constants and query parameters (the partition filters) and
fails the whole query when the result leaves that range: ZetaSQL's ``AddTimestamp`` returns an
overflow error rather than a value (zetasql/public/functions/date_time_util.cc). DuckDB's
timestamps run on to the year 294247, so the local target alone would never show it: this test
evaluates each such expression with the bounds ``plan_increment`` really gives and checks the
range itself. Cases: an increment with nothing new (its bounds are sentinels far in the future)
and a file whose earliest row is the earliest event time staging keeps, beside rows before it.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.features import EARLIEST_EVENT_TIME
from fraud_mlops.ingestion.increment import describe, increment_parameters, plan_increment
from fraud_mlops.paths import sql_dir
from fraud_mlops.settings import MAX_DEDUP_HORIZON_DAYS, Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
from fraud_mlops.warehouse.transpile import (
    bound_parameters,
    parse_assert,
    split_statements,
    transpile_statement,
)
from tests.sql_chain import load_landing, transform

#: Date and time arithmetic BigQuery refuses to take past its range.
ARITHMETIC = (exp.TimestampAdd, exp.TimestampSub, exp.DateAdd, exp.DateSub, exp.TimestampTrunc, exp.DateTrunc)
INCREMENT_SQL = sorted(
    p.name for p in sql_dir().glob("[0-9]*.sql") if re.search(r"@(event_from|loaded_from)\b", p.read_text())
)


def parameter_expressions(sql: str) -> list[exp.Expression]:
    """Every date/time arithmetic of ``sql`` over query parameters and constants only."""
    found = []
    for statement in split_statements(sql):
        check = parse_assert(statement)
        tree = sqlglot.parse_one(check.check_sql if check else statement, read="bigquery")
        for node in tree.find_all(*ARITHMETIC):
            if node.find(exp.Parameter) is not None and node.find(exp.Column) is None:
                found.append(node)
    return found


def plan(hook: object, settings: Settings, landing: pd.DataFrame | None) -> dict[str, str]:
    hook.run(render_sql(SQL_FILES["setup"], settings))  # type: ignore[attr-defined]
    if landing is not None:
        load_landing(hook, settings, landing, "early.csv")
    return plan_increment(DuckDBWarehouse(settings, Path(hook.get_database())), settings, "plan")  # type: ignore[attr-defined]


def early_file() -> pd.DataFrame:
    rows = generate(GeneratorConfig(rows=3, seed=5)).landing.astype(str)
    rows["event_time"] = ["0001-01-02 00:00:00", "1969-12-31 23:59:59", EARLIEST_EVENT_TIME]
    return rows


@pytest.mark.parametrize("case", ["nothing new", "earliest kept event"])
def test_increment_bounds_stay_inside_bigquerys_timestamp_range(warehouse, local_settings, case) -> None:
    bounds = plan(warehouse, local_settings, early_file() if case == "earliest kept event" else None)
    if case == "earliest kept event":  # the rows staging rejects as ancient set no look-back
        assert (bounds["files"], bounds["event_from"]) == ("1", "1969-12-25")
    parameters = increment_parameters(bounds, "r")
    conn = duckdb.connect()
    conn.execute("SET TimeZone='UTC'")
    checked = []
    # the longest dedup horizon settings allow reaches furthest back
    longest = dataclasses.replace(local_settings, dedup_horizon_days=MAX_DEDUP_HORIZON_DAYS)
    for name, settings in itertools.product(INCREMENT_SQL, (local_settings, longest)):
        for node in parameter_expressions(render_sql(name, settings)):
            duck = transpile_statement(f"SELECT {node.sql('bigquery')}").removeprefix("SELECT ")
            used = bound_parameters(duck, parameters)
            value, inside = conn.execute(
                f"SELECT CAST(({duck}) AS VARCHAR), ({duck}) BETWEEN TIMESTAMPTZ '0001-01-01 00:00:00+00' "
                "AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'",
                used,
            ).fetchone()
            assert inside, f"{name}: {node.sql('bigquery')} = {value} with {bounds}: outside BigQuery's range"
            checked.append(name)
    # the look-back's TIMESTAMP_ADDs, the dedup horizon's TIMESTAMP_SUB
    assert {"20_staging.sql", "30_card_features.sql", "55_publish.sql"} <= set(checked)


@pytest.mark.parametrize(
    ("logged_at", "loaded_from"),
    [
        # raw rows are partitioned by load date: one day's partition is read ...
        ("2026-11-02 10:00:00", "2026-11-02 09:00:00.000000"),
        # ... and the day before only when the first log time is within the margin after midnight
        ("2026-11-02 00:30:00", "2026-11-01 23:30:00.000000"),
    ],
)
def test_the_increment_reads_raw_rows_from_an_hour_before_its_first_log_time(
    warehouse, local_settings, logged_at, loaded_from
) -> None:
    """The append writes a file's raw rows and its log row in one transaction, with one
    CURRENT_TIMESTAMP(): a margin of a day read two days of raw partitions on every run."""
    load_landing(warehouse, local_settings, generate(GeneratorConfig(rows=5, seed=3)).landing, "day.csv")
    warehouse.run(
        f"UPDATE `{local_settings.raw_dataset}.raw_transactions` SET _loaded_at = TIMESTAMP '{logged_at}';"
        f" UPDATE `{local_settings.dataset}.ingestion_log` SET logged_at = TIMESTAMP '{logged_at}'"
    )
    bounds = plan_increment(
        DuckDBWarehouse(local_settings, Path(warehouse.get_database())), local_settings, "plan"
    )
    assert bounds["loaded_from"] == loaded_from
    rows = warehouse.get_records(
        f"SELECT COUNT(*) FROM `{local_settings.raw_dataset}.raw_transactions`"
        " WHERE _loaded_at >= CAST(@loaded_from AS TIMESTAMP)",
        parameters={"loaded_from": bounds["loaded_from"]},
    )
    assert rows == [(5,)]


def test_older_staging_is_read_only_when_a_published_transaction_follows_the_increment(
    warehouse, local_settings
) -> None:
    """In order (each file after every published transaction), no card's serving state lacks
    its last transaction before ``event_from``: ``older_until`` names no partition. A late file
    needs the older staging of the cards whose state lacks it (tests/ingestion's equivalence
    tests show the results equal a full refresh either way)."""

    def day_file(day: int) -> pd.DataFrame:
        start = datetime(2026, 10, day, tzinfo=UTC)
        return generate(GeneratorConfig(rows=200, seed=day, start=start, days=1, rows_per_card=10)).landing

    load_landing(warehouse, local_settings, day_file(10), "day10.csv")
    transform(warehouse, local_settings, run_id="r10")
    load_landing(warehouse, local_settings, day_file(11), "day11.csv")
    in_order = plan(warehouse, local_settings, None)
    assert (in_order["event_from"], in_order["older_until"]) == ("2026-10-04", "0001-01-01")
    assert "in order: no older staging read" in describe(in_order)
    transform(warehouse, local_settings, run_id="r11")
    load_landing(warehouse, local_settings, day_file(3), "day3.csv")  # a week late
    late = plan(warehouse, local_settings, None)
    assert late["older_until"] == late["event_from"] == "2026-09-26"
    assert "older staging read before 2026-09-26" in describe(late)


def test_the_plan_counts_what_the_planning_run_published_before(warehouse, local_settings) -> None:
    """A run cleared after its publish plans nothing new, yet must take its snapshot and sync:
    the plan tells it apart from a run that published nothing by the files its own run id
    published (transform_log); another run's count is nought. Loaded files left untransformed
    wait for a run that loads a file, not for a run that loads none, unless that run loaded them."""
    from fraud_mlops.ingestion.increment import NOTHING, SNAPSHOT_ONLY, TRANSFORM, next_step, snapshot_publish

    load_landing(warehouse, local_settings, generate(GeneratorConfig(rows=200, seed=8)).landing, "a.csv")
    load_landing(warehouse, local_settings, generate(GeneratorConfig(rows=200, seed=9)).landing, "b.csv")
    transform(warehouse, local_settings, run_id="scheduled__2026-12-07T03:00:00+00:00")
    hook_warehouse = DuckDBWarehouse(local_settings, Path(warehouse.get_database()))

    cleared = plan_increment(hook_warehouse, local_settings, "scheduled__2026-12-07T03:00:00+00:00")
    assert (cleared["files"], cleared["published_by_run"], cleared["publishes_by_run"]) == ("0", "2", "1")
    # its snapshot is its publish's; publishing again would take the next
    assert (snapshot_publish(cleared, SNAPSHOT_ONLY), snapshot_publish(cleared, TRANSFORM)) == (1, 2)
    assert next_step(cleared, loaded_files=False) == next_step(cleared, loaded_files=True) == SNAPSHOT_ONLY
    assert "this run published 2 file(s) before (a cleared run)" in describe(cleared, loaded_files=False)

    other = plan_increment(hook_warehouse, local_settings, "scheduled__2026-12-08T03:00:00+00:00")
    assert (other["files"], other["published_by_run"], other["publishes_by_run"]) == ("0", "0", "0")
    assert next_step(other, loaded_files=True) == NOTHING
    assert (snapshot_publish(other, NOTHING), snapshot_publish(other, TRANSFORM)) == (None, 1)
    assert describe(other).startswith("nothing new to transform: transform, checks, publish, snapshot")

    load_landing(warehouse, local_settings, generate(GeneratorConfig(rows=200, seed=10)).landing, "c.csv")
    waiting = plan_increment(hook_warehouse, local_settings, "scheduled__2026-12-08T03:00:00+00:00")
    assert waiting["files"] == "1"
    assert next_step(waiting, loaded_files=True) == TRANSFORM  # a run that loaded a file
    assert next_step(waiting, loaded_files=False) == NOTHING  # a run that loaded none
    assert "they go with the next run that loads a file" in describe(waiting, loaded_files=False)
    # the run that loaded them, cleared after it failed before its publish: it loads nothing
    # again (its files are archived), yet transforms them
    loader = plan_increment(hook_warehouse, local_settings, "r1")
    assert (loader["files"], loader["loaded_by_run"]) == ("1", "1")
    assert next_step(loader, loaded_files=False) == TRANSFORM
    # the cleared run, with files another run left untransformed: its snapshot and sync
    again = plan_increment(hook_warehouse, local_settings, "scheduled__2026-12-07T03:00:00+00:00")
    assert next_step(again, loaded_files=False) == SNAPSHOT_ONLY
    # ... which, cleared with a new file, publishes a second time: a second snapshot
    transform(warehouse, local_settings, run_id="scheduled__2026-12-07T03:00:00+00:00")
    twice = plan_increment(hook_warehouse, local_settings, "scheduled__2026-12-07T03:00:00+00:00")
    assert (twice["published_by_run"], twice["publishes_by_run"]) == ("3", "2")
    assert snapshot_publish(twice, next_step(twice, loaded_files=False)) == 2


def test_a_publish_of_files_another_run_published_leaves_that_runs_count(warehouse, local_settings) -> None:
    """Two runs publish one file only when a publish job outlived its run (its lease was taken
    over while the job ran on). Each run keeps its own rows in transform_log: neither run's count
    of what it published drops, so a clear of either names a snapshot not taken yet; the file is
    still transformed once, and publishing the same candidates again changes nothing."""
    load_landing(warehouse, local_settings, generate(GeneratorConfig(rows=200, seed=8)).landing, "a.csv")
    first, other = "scheduled__2026-12-07T03:00:00+00:00", "scheduled__2026-12-08T03:00:00+00:00"
    bounds = transform(warehouse, local_settings, run_id=first)
    staged = warehouse.get_records(f"SELECT COUNT(*) FROM `{local_settings.dataset}.stg_transactions`")
    # the other run's candidates: the same file, staged from the state before the first publish
    # (the first run's candidates, but for the run id staging writes into them)
    warehouse.run(
        f"UPDATE `{local_settings.candidate_dataset}.transform_log` SET run_id = @run_id",
        parameters={"run_id": other},
    )
    publish = render_sql(SQL_FILES["publish"], local_settings)
    parameters = {name: bounds[name] for name in ("loaded_from", "event_from")}
    warehouse.run(publish, parameters=parameters)
    warehouse.run(publish, parameters=parameters)  # its retry, after a publish that committed

    hook_warehouse = DuckDBWarehouse(local_settings, Path(warehouse.get_database()))
    for run_id in (first, other):
        plan = plan_increment(hook_warehouse, local_settings, run_id)
        assert (plan["files"], plan["published_by_run"], plan["publishes_by_run"]) == ("0", "1", "1"), run_id
    rows = warehouse.get_records(
        f"SELECT run_id FROM `{local_settings.dataset}.transform_log` ORDER BY run_id"
    )
    assert rows == [(first,), (other,)]
    assert (
        warehouse.get_records(f"SELECT COUNT(*) FROM `{local_settings.dataset}.stg_transactions`") == staged
    )
