"""The BigQuery bytes meter on a real DuckDB: sizes by BigQuery's rules, partition pruning, DML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from devtools.bigquery_bytes import MIN_BILLED_BYTES, BytesMeter, metering, partitioning
from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql

DAY0 = datetime(2026, 9, 1, tzinfo=UTC)
#: (id, event_time, amount, flag, tags, note): 4 rows a day over 5 days, some NULLs
ROWS = [
    (
        f"t{day}-{i}" + "x" * i,
        DAY0 + timedelta(days=day, hours=5 * i),
        None if i == 3 else 1.5 * i,
        i % 2 == 0,
        ["a", "bcd"][: i % 3],
        None if i % 2 else "é" * i,  # two UTF-8 bytes a character
    )
    for day in range(5)
    for i in range(4)
]


def size(row: tuple, columns: list[str]) -> int:
    """BigQuery's logical bytes of ``columns`` of one row, computed by hand from the docs' table."""
    id_, _event_time, amount, _flag, tags, note = row
    sizes = {
        "id": 2 + len(id_.encode()),
        "event_time": 8,
        "amount": 0 if amount is None else 16,
        "flag": 1,
        "tags": sum(2 + len(t.encode()) for t in tags),
        "note": 0 if note is None else 2 + len(note.encode()),
    }
    return sum(sizes[c] for c in columns)


@pytest.fixture
def conn():
    conn = duckdb.connect()
    conn.execute("SET TimeZone='UTC'")
    conn.execute("CREATE SCHEMA fraud")
    conn.execute(
        "CREATE TABLE fraud.events (id VARCHAR, event_time TIMESTAMPTZ, amount DECIMAL(38, 9), flag BOOLEAN,"
        " tags VARCHAR[], note VARCHAR)"
    )
    conn.executemany("INSERT INTO fraud.events VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    conn.execute("CREATE TABLE fraud.state AS SELECT id, amount, note FROM fraud.events WHERE event_time < ?", [DAY0 + timedelta(days=1)])  # fmt: skip
    yield conn
    conn.close()


def on_days(days: range) -> list[tuple]:
    return [r for r in ROWS if (r[1] - DAY0).days in days]


def test_a_partition_filter_reads_the_named_days_of_the_read_columns_only(conn):
    meter = BytesMeter({"events": "event_time"})
    statement = meter.observe(
        conn,
        "SELECT id, amount FROM fraud.events WHERE event_time >= CAST($from AS TIMESTAMPTZ)"
        " AND event_time < CAST($to AS TIMESTAMPTZ)",
        {"from": "2026-09-02 12:00:00", "to": "2026-09-04 00:00:00"},
    )
    (read,) = statement.reads
    # days 2 and 3 (a bound inside day 2 still reads its partition; day 4 starts at the bound)
    assert read.columns == ("amount", "event_time", "id")
    assert read.bytes == sum(size(r, ["id", "amount", "event_time"]) for r in on_days(range(1, 3)))
    assert statement.processed == read.bytes
    assert statement.billed == MIN_BILLED_BYTES  # at least 10 MB a table read


def test_without_a_partition_filter_every_day_is_read_and_clustering_filters_do_not_prune(conn):
    meter = BytesMeter({"events": "event_time"})
    statement = meter.observe(conn, "SELECT note, tags FROM fraud.events WHERE id = 't0-0'")
    (read,) = statement.reads
    assert read.days is None
    assert read.bytes == sum(size(r, ["note", "tags", "id"]) for r in ROWS)


def test_an_unpartitioned_table_is_read_whole_and_count_star_bills_nothing(conn):
    meter = BytesMeter({"events": "event_time"})
    counted = meter.observe(conn, "SELECT COUNT(*) FROM fraud.state")
    assert counted.processed == 0 and counted.billed == 0
    read = meter.observe(conn, "SELECT note FROM fraud.state WHERE amount > 0")
    assert read.processed == sum(size(r, ["note", "amount"]) for r in on_days(range(0, 1)))


def test_merge_with_an_update_bills_the_whole_target_and_an_insert_only_merge_does_not(conn):
    meter = BytesMeter({"events": "event_time"})
    source = "(SELECT id, amount, note FROM fraud.events WHERE event_time >= TIMESTAMPTZ '2026-09-05')"
    updating = meter.observe(
        conn,
        f"MERGE INTO fraud.state AS t USING {source} AS s ON t.id = s.id"
        " WHEN MATCHED THEN UPDATE SET amount = s.amount WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.amount, s.note)",
    )
    day0_state = on_days(range(0, 1))
    assert updating.target_bytes == sum(size(r, ["id", "amount", "note"]) for r in day0_state)
    source_read = next(r for r in updating.reads if r.table.endswith("events"))
    assert source_read.bytes == sum(
        size(r, ["id", "amount", "note", "event_time"]) for r in on_days(range(4, 5))
    )
    inserting = meter.observe(
        conn,
        f"MERGE INTO fraud.state AS t USING {source} AS s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.amount, s.note)",
    )
    assert inserting.target_bytes == 0


def test_delete_bills_every_column_of_the_partitions_it_names(conn):
    meter = BytesMeter({"events": "event_time"})
    statement = meter.observe(
        conn, "DELETE FROM fraud.events WHERE event_time >= TIMESTAMPTZ '2026-09-04' AND id LIKE 't3%'"
    )
    every_column = ["id", "event_time", "amount", "flag", "tags", "note"]
    assert statement.target_bytes == sum(size(r, every_column) for r in on_days(range(3, 5)))
    assert conn.execute("SELECT COUNT(*) FROM fraud.events").fetchone()[0] == len(ROWS)  # estimated, not run


def test_partitioning_is_read_from_the_setup_sql():
    declared = partitioning(render_sql(SQL_FILES["setup"], settings_from_env({})))
    assert declared["stg_transactions"] == "event_time"
    assert declared["raw_transactions"] == "_loaded_at"
    assert declared["ingestion_log"] == "logged_at"
    assert "latest_card_features" not in declared and "card_merchants" not in declared


def test_metering_sees_the_hooks_statements_with_their_label_and_then_lets_go(tmp_path):
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    hook = BigQueryDialectDuckDBHook(database=str(tmp_path / "w.duckdb"))
    hook.run("CREATE SCHEMA fraud; CREATE TABLE fraud.t AS SELECT 'abc' AS s, TIMESTAMP '2026-09-01' AS e")
    meter = BytesMeter({"t": "e"})
    with metering(meter), meter.labelled("step"):
        hook.run("SELECT s FROM `fraud.t` WHERE e >= CAST(@e AS TIMESTAMP)", parameters={"e": "2026-09-01"})
    (statement,) = meter.statements
    assert statement.label == "step" and statement.processed == (2 + 3) + 8
    hook.run("SELECT s FROM `fraud.t`")
    assert len(meter.statements) == 1


def test_a_table_scanned_twice_counts_once_with_all_its_columns_and_days(conn):
    meter = BytesMeter({"events": "event_time"})
    statement = meter.observe(
        conn,
        "SELECT id FROM fraud.events WHERE event_time >= TIMESTAMPTZ '2026-09-04'"
        " UNION ALL SELECT note FROM fraud.events WHERE event_time >= TIMESTAMPTZ '2026-09-03'",
    )
    (read,) = statement.reads
    assert read.bytes == sum(size(r, ["id", "note", "event_time"]) for r in on_days(range(2, 5)))


def test_bounds_that_leave_no_partition_read_nothing(conn):
    meter = BytesMeter({"events": "event_time"})
    statement = meter.observe(
        conn,
        "SELECT MAX(event_time) FROM fraud.events WHERE event_time < TIMESTAMPTZ '0001-01-01' AND id = 'x'",
    )
    assert statement.processed == 0 and statement.billed == 0
