"""Golden tests of the nine places where sqlglot is silently wrong for BigQuery → DuckDB.

Each test runs real BigQuery SQL through the project's hook on a real DuckDB file and compares
with an independent Python/pandas computation. Where it helps, the test also shows the plain
transpilation getting it wrong, so the test would fail without the fix.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from decimal import Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from fraud_mlops.warehouse.hook import DataQualityError, SnapshotExistsError
from fraud_mlops.warehouse.transpile import parse_clone_ddl, transpile_statement


@pytest.fixture
def timestamps(warehouse) -> pd.Series:
    rng = np.random.default_rng(3)
    seconds = rng.integers(0, 365 * 86_400, 2_000)
    ts = pd.Series(pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s"))
    frame = pd.DataFrame({"id": range(len(ts)), "ts": ts.dt.strftime("%Y-%m-%d %H:%M:%S")})
    conn = warehouse.get_conn()
    conn.execute("CREATE SCHEMA IF NOT EXISTS fraud")
    conn.register("frame", frame)
    conn.execute("CREATE TABLE fraud.times AS SELECT id, CAST(ts AS TIMESTAMPTZ) AS ts FROM frame")
    conn.close()
    return ts


def test_dayofweek_matches_bigquery_numbering(warehouse, timestamps):
    rows = warehouse.get_records("SELECT id, EXTRACT(DAYOFWEEK FROM ts) FROM `fraud.times` ORDER BY id")
    got = np.array([r[1] for r in rows])
    expected = ((timestamps.dt.dayofweek + 1) % 7 + 1).to_numpy()  # BigQuery: Sunday=1 … Saturday=7
    assert (got == expected).all()
    assert set(got) == set(range(1, 8))
    plain = sqlglot.transpile(
        "SELECT EXTRACT(DAYOFWEEK FROM ts) FROM fraud.times", read="bigquery", write="duckdb"
    )[0]
    assert "+ 1" not in plain  # sqlglot alone passes it through (off by one on DuckDB)


def test_numeric_keeps_bigquery_precision(warehouse):
    values = [Decimal("1234567.123456789"), Decimal("0.000000001"), Decimal("99999999999.5")]
    sql = " UNION ALL ".join(f"SELECT CAST('{v}' AS NUMERIC) AS x" for v in values)
    got = [r[0] for r in warehouse.get_records(f"SELECT x FROM ({sql}) ORDER BY x")]
    assert got == sorted(values)
    total = warehouse.get_records(f"SELECT SUM(x) FROM ({sql})")[0][0]
    assert total == sum(values)
    with duckdb.connect() as plain:  # bare DECIMAL is DECIMAL(18,3): rounds to 3 places
        assert plain.execute("SELECT CAST('0.000000001' AS DECIMAL)").fetchall() == [(Decimal("0.000"),)]


def test_safe_cast_to_int64_rejects_fractional_strings(warehouse):
    cases = {"'12'": 12, "'-7'": -7, "'12.5'": None, "'1e3'": None, "'abc'": None, "''": None, "12.5": 13}
    for literal, expected in cases.items():
        got = warehouse.get_records(f"SELECT SAFE_CAST({literal} AS INT64)")[0][0]
        assert got == expected, literal
    with duckdb.connect() as plain:
        assert plain.execute("SELECT TRY_CAST('12.5' AS BIGINT)").fetchall() == [(13,)]  # what we avoid


#: Strings and what BigQuery's SAFE_CAST(… AS TIMESTAMP) gives (UTC), by ZetaSQL's grammar
#: (ParseStringToTimestampParts in zetasql/public/functions/date_time_util.cc).
TIMESTAMP_STRINGS = {
    "2026-11-01 10:00:00": "2026-11-01 10:00:00",
    "2026-11-01T10:00:00.123456Z": "2026-11-01 10:00:00.123456",
    "2026-11-01": "2026-11-01 00:00:00",
    "2026-1-1 1:2:3": "2026-01-01 01:02:03",
    "2026-11-01t10:00:00z": "2026-11-01 10:00:00",
    "2026-11-01 10:00:00+01:00": "2026-11-01 09:00:00",
    "2026-11-01 10:00:00+1": "2026-11-01 09:00:00",
    "2026-11-01 10:00:00-0530": "2026-11-01 15:30:00",
    "2026-11-01 10:00:00+1:5": "2026-11-01 08:55:00",
    "2026-11-01 10:00:00 UTC": "2026-11-01 10:00:00",
    "2026-11-01 10:00:00 UTC-3": "2026-11-01 13:00:00",
    "2026-11-01 10:00:00 America/New_York": "2026-11-01 15:00:00",
    "2026-12-31 23:59:60.5": "2027-01-01 00:00:00.5",  # a leap second rolls over
    "2026/11/01 10:00:00": None,
    "2026-11-01 10:00": None,  # seconds are required
    "2026-11-01 24:00:00": None,
    "2026-11-01 10:00:00.1234567": None,  # TIMESTAMP keeps microseconds
    " 2026-11-01 10:00:00": None,
    "2026-11-01 10:00:00 +01": None,  # no space before an offset
    "2026-11-01 10:00:00+15": None,  # offsets end at 14 hours
    "2026-02-30 10:00:00": None,
    "0000-01-01": None,
    "epoch": None,
    "infinity": None,
    "": None,
}


def test_safe_cast_to_timestamp_reads_strings_as_bigquery_does(warehouse):
    rows = warehouse.get_records(
        "SELECT s, CAST(SAFE_CAST(s AS TIMESTAMP) AS STRING) FROM UNNEST(@strings) AS s",
        parameters={"strings": list(TIMESTAMP_STRINGS)},
    )
    got = {s: None if ts is None else ts.removesuffix("+00") for s, ts in rows}
    assert got == TIMESTAMP_STRINGS
    with duckdb.connect() as plain:  # what DuckDB's own cast would stage that BigQuery rejects
        plain.execute("SET TimeZone='UTC'")
        for text in ("2026/11/01 10:00:00", "2026-11-01 10:00", "2026-11-01 24:00:00", "epoch"):
            assert plain.execute("SELECT TRY_CAST(? AS TIMESTAMPTZ)", [text]).fetchone()[0] is not None


def test_countif_over_no_rows_is_zero(warehouse):
    """ZetaSQL's compliance test countif_empty_input: COUNT and COUNTIF over no rows are 0."""
    sql = "SELECT COUNT(x), COUNTIF(x > 0) FROM (SELECT x FROM (SELECT 1 AS x) WHERE x < 0)"
    assert warehouse.get_records(sql) == [(0, 0)]
    window = "SELECT COUNTIF(x > 5) OVER (ORDER BY x ROWS 1 PRECEDING) FROM UNNEST([1, 7, 8]) AS x ORDER BY x"
    assert [n for (n,) in warehouse.get_records(window)] == [0, 1, 2]
    with duckdb.connect() as plain:  # what the plain transpilation gives
        assert plain.execute(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]).fetchall() == [
            (0, None)
        ]


def test_div_of_a_sum_divides_the_sum(warehouse):
    sql = "SELECT DIV(x + 604800, 86400), DIV(x, 86400 - 1), DIV(-7, 2) FROM UNNEST([100000, 999999]) AS x ORDER BY x"
    got = warehouse.get_records(sql)
    expected = [((x + 604800) // 86400, x // 86399, -3) for x in (100000, 999999)]  # BigQuery truncates
    assert [tuple(row) for row in got] == expected
    plain = sqlglot.transpile("SELECT DIV(x + 604800, 86400)", read="bigquery", write="duckdb")[0]
    assert plain == "SELECT x + 604800 // 86400"  # what sqlglot alone emits: 604800 // 86400 first


#: ARRAY_SLICE's examples in Google's GoogleSQL reference (array_functions.md#array_slice):
#: 0-based, inclusive offsets; negative ones count from the end; out of bounds is clamped.
ARRAY_SLICE_EXAMPLES = {
    ("1", "3"): ["b", "c", "d"],
    ("-1", "3"): [],
    ("1", "-3"): ["b", "c"],
    ("-1", "-3"): [],
    ("-3", "-1"): ["c", "d", "e"],
    ("3", "3"): ["d"],
    ("-3", "-3"): ["c"],
    ("1", "30"): ["b", "c", "d", "e"],
    ("1", "-30"): [],
    ("-30", "30"): ["a", "b", "c", "d", "e"],
    ("-30", "-5"): ["a"],
    ("5", "30"): [],
    ("1", "NULL"): None,
}


def test_array_slice_offsets_are_bigquery_offsets(warehouse):
    for (start, end), expected in ARRAY_SLICE_EXAMPLES.items():
        sql = f"SELECT ARRAY_SLICE(['a', 'b', 'c', 'd', 'e'], {start}, {end})"
        assert warehouse.get_records(sql)[0][0] == expected, (start, end)
    # offsets computed per row, as 30_card_features.sql slices the published recent pairs
    sql = "SELECT k, ARRAY_SLICE([10, 20, 30], k, -1) FROM UNNEST([0, 1, 2]) AS k ORDER BY k"
    assert [tuple(row) for row in warehouse.get_records(sql)] == [(0, [10, 20, 30]), (1, [20, 30]), (2, [30])]
    plain = sqlglot.transpile("SELECT ARRAY_SLICE(a, 1, 3)", read="bigquery", write="duckdb")[0]
    assert plain == "SELECT ARRAY_SLICE(a, 1, 3)"  # passed through: DuckDB would read 1-based offsets


def test_sessions_are_utc_whatever_the_machine_zone(warehouse, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        sql = "SELECT EXTRACT(HOUR FROM TIMESTAMP '2026-03-01 23:30:00'), CAST(TIMESTAMP '2026-03-01 23:30:00' AS DATE)"
        hour, day = warehouse.get_records(sql)[0]
        assert (hour, day) == (23, dt.date(2026, 3, 1))
    finally:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()


def test_snapshot_ddl_writes_an_immutable_named_copy(warehouse, local_settings):
    warehouse.run(
        "CREATE SCHEMA IF NOT EXISTS `fraud`; CREATE TABLE `fraud.src` AS SELECT 1 AS id UNION ALL SELECT 2 AS id"
    )
    ddl = (
        "CREATE SNAPSHOT TABLE `my-project.fraud.snap_a` CLONE `my-project.fraud.src` "
        "OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 30 DAY))"
    )
    assert "SNAPSHOT" in sqlglot.transpile(ddl, read="bigquery", write="duckdb")[0]  # passed through verbatim
    warehouse.run(ddl)
    warehouse.run("INSERT INTO `fraud.src` VALUES (3)")
    assert (
        warehouse.get_records("SELECT COUNT(*) FROM `fraud.snap_a`")[0][0] == 2
    )  # a copy, not a view of src
    path = local_settings.snapshot_dir / "snap_a.parquet"
    assert path.exists() and not (path.stat().st_mode & 0o222)  # read-only file
    with pytest.raises(SnapshotExistsError):
        warehouse.run(ddl)
    warehouse.run(ddl.replace("SNAPSHOT TABLE", "SNAPSHOT TABLE IF NOT EXISTS"))  # idempotent form
    # a try that died between the file and its view: the retry's idempotent form makes the view
    warehouse.get_conn().execute('DROP VIEW "fraud"."snap_a"')
    warehouse.run(ddl.replace("SNAPSHOT TABLE", "SNAPSHOT TABLE IF NOT EXISTS"))
    assert warehouse.get_records("SELECT COUNT(*) FROM `fraud.snap_a`")[0][0] == 2
    with pytest.raises(duckdb.Error):
        warehouse.run("INSERT INTO `fraud.snap_a` VALUES (4)")
    assert sorted(pd.read_parquet(path)["id"]) == [1, 2]  # a table keeps no row order (BigQuery neither)


def test_table_clone_becomes_a_copy(warehouse):
    warehouse.run("CREATE SCHEMA IF NOT EXISTS `fraud`; CREATE TABLE `fraud.a` AS SELECT 5 AS x")
    warehouse.run("CREATE TABLE `fraud.b` CLONE `fraud.a`")
    assert warehouse.get_records("SELECT x FROM `fraud.b`") == [(5,)]


def test_assert_passes_silently_and_fails_with_its_message(warehouse):
    warehouse.run("ASSERT (SELECT 1) = 1 AS 'dq_one: one is one'")
    with pytest.raises(DataQualityError, match="dq_two: two is not one"):
        warehouse.run("SELECT 1; ASSERT (SELECT 2) = 1 AS 'dq_two: two is not one'")


def test_clone_parser_handles_comments_and_projects():
    parsed = parse_clone_ddl("-- note\nCREATE SNAPSHOT TABLE IF NOT EXISTS `p.d.t` CLONE `p.d.s`")
    assert parsed is not None and (parsed.target, parsed.source, parsed.if_not_exists) == ("d.t", "d.s", True)
    assert parse_clone_ddl("CREATE TABLE d.t AS SELECT 1") is None


def test_named_parameters_are_bound_per_statement(warehouse):
    rows = warehouse.get_records("SELECT 1; SELECT @a || '-' || @b", {"a": "x", "b": "y", "unused": "z"})
    assert rows == [("x-y",)]
    assert "$a" in transpile_statement("SELECT @a")


def test_only_an_expiration_is_skipped_locally() -> None:
    from fraud_mlops.warehouse.transpile import parse_set_expiration

    ok = "ALTER TABLE `p.fraud.training_snapshot_x` SET OPTIONS (\n  expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 365 DAY)\n);"
    assert parse_set_expiration(ok) == "fraud.training_snapshot_x"
    assert parse_set_expiration("SELECT 1") is None
    with pytest.raises(ValueError, match="only expiration_timestamp"):
        parse_set_expiration("ALTER TABLE t SET OPTIONS (description = 'x', expiration_timestamp = NULL)")


def test_storage_layout_is_dropped_without_a_warning_and_other_options_refused(
    warehouse, local_settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The setup's partitioned, clustered tables: DuckDB has no such layout. sqlglot dropped it
    too, but logged a warning per property every time a run set the warehouse up."""
    from fraud_mlops.sql_templates import SQL_FILES, render_sql
    from fraud_mlops.warehouse.transpile import split_statements

    setup = [s for s in split_statements(render_sql(SQL_FILES["setup"], local_settings)) if s.strip()]
    layout = [s for s in setup if "PARTITION BY" in s or "CLUSTER BY" in s]
    assert len(layout) >= 5 and any("require_partition_filter" in s for s in layout)
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        duck = [transpile_statement(s) for s in layout]
    assert caplog.records == []
    code = [re.sub(r"/\*.*?\*/", "", s, flags=re.DOTALL) for s in duck]  # comments name the layout
    assert not [s for s in code if re.search(r"PARTITION BY|CLUSTER|OPTIONS|require_partition_filter", s)]
    warehouse.run(render_sql(SQL_FILES["setup"], local_settings))  # and the tables are made
    assert warehouse.get_records(f"SELECT COUNT(*) FROM `{local_settings.dataset}.stg_transactions`") == [
        (0,)
    ]
    with pytest.raises(ValueError, match="table option description has no local form"):
        transpile_statement("CREATE TABLE `d.t` (a STRING) PARTITION BY a OPTIONS (description = 'x')")
