"""The local warehouse seam on a real DuckDB file: the calls business code makes, the tasks DAGs get."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from structlog.testing import capture_logs

from fraud_mlops import targets
from fraud_mlops.settings import Settings
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook


@pytest.fixture
def warehouse(local_settings: Settings) -> DuckDBWarehouse:
    chosen = targets.warehouse(local_settings)
    assert isinstance(chosen, DuckDBWarehouse)
    return chosen


def test_execute_then_records_with_named_string_parameters(warehouse: DuckDBWarehouse) -> None:
    warehouse.execute(
        "CREATE SCHEMA IF NOT EXISTS fraud; CREATE TABLE fraud.t (k STRING, n INT64);"
        "INSERT INTO fraud.t VALUES ('a', 1), ('b', 2), (@k, 3)",
        {"k": "c"},
    )
    assert warehouse.records("SELECT k, n FROM `fraud.t` WHERE k != @skip ORDER BY n", {"skip": "b"}) == [
        ("a", 1),
        ("c", 3),
    ]


def test_read_arrow_reads_without_the_writers_lock_and_cannot_write(warehouse: DuckDBWarehouse) -> None:
    warehouse.execute("CREATE SCHEMA fraud; CREATE TABLE fraud.t AS SELECT 1 AS n")
    assert warehouse.read_arrow("SELECT n, SAFE_CAST('12.5' AS INT64) AS bad FROM fraud.t").to_pylist() == [
        {"n": 1, "bad": None}  # transpiled with the project's fixes, BigQuery semantics
    ]
    with pytest.raises(duckdb.InvalidInputException, match="read-only"):
        warehouse.read_arrow("CREATE TABLE fraud.u AS SELECT 1 AS n")


def test_replace_table_replaces_the_rows(warehouse: DuckDBWarehouse) -> None:
    warehouse.replace_table("staged", pa.table({"k": ["a", "b"]}))
    warehouse.replace_table("staged", pa.table({"k": ["c"]}))
    assert warehouse.records("SELECT k FROM fraud.staged") == [("c",)]


def test_row_count_counts_the_rows_left_after_deletes(warehouse: DuckDBWarehouse) -> None:
    warehouse.replace_table("staged", pa.table({"k": ["a", "b", "c"]}))
    warehouse.execute("DELETE FROM `fraud.staged` WHERE k = 'b'")
    assert warehouse.row_count("staged") == 2
    with pytest.raises(duckdb.CatalogException):
        warehouse.row_count("missing")


def test_leftover_load_tables_are_dropped_and_only_they(warehouse: DuckDBWarehouse) -> None:
    """Load tables in the raw dataset's schema, reject tables in the dataset's; a look-alike in
    the other schema and every other table stay."""
    warehouse.execute(
        "CREATE SCHEMA fraud_raw; CREATE SCHEMA fraud;"
        "CREATE TABLE fraud_raw.raw_load_aa_1 AS SELECT '4111111111111111' AS card_number;"
        "CREATE TABLE fraud_raw.raw_transactions AS SELECT 1 AS n;"
        "CREATE TABLE fraud_raw.raw_loads AS SELECT 1 AS n;"
        "CREATE TABLE fraud.reject_load_aa_1 AS SELECT 1 AS line_number;"
        "CREATE TABLE fraud.raw_load_bb_2 AS SELECT 1 AS n;"
    )
    assert warehouse.drop_leftover_load_tables() == ["fraud.reject_load_aa_1", "fraud_raw.raw_load_aa_1"]
    assert warehouse.drop_leftover_load_tables() == []
    with duckdb.connect(str(warehouse.path), read_only=True) as conn:
        kept = conn.execute("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2")
        assert kept.fetchall() == [
            ("fraud", "raw_load_bb_2"),
            ("fraud_raw", "raw_loads"),
            ("fraud_raw", "raw_transactions"),
        ]


def test_snapshot_uri_is_the_immutable_parquet_file(
    warehouse: DuckDBWarehouse, local_settings: Settings
) -> None:
    assert warehouse.snapshot_uri("training_snapshot_x") == str(
        local_settings.snapshot_dir / "training_snapshot_x.parquet"
    )


def test_sql_operator_runs_the_file_in_the_one_writer_pool(warehouse: DuckDBWarehouse) -> None:
    operator = warehouse.sql_operator(
        "build_staging", "20_staging.sql", parameters={"run_id": "{{ run_id }}"}
    )
    assert type(operator).__name__ == "BigQuerySQLOnDuckDBOperator"
    assert (operator.sql, operator.pool, operator.conn_id) == (
        "20_staging.sql",
        "warehouse",
        "fraud_warehouse",
    )
    assert operator.parameters == {"run_id": "{{ run_id }}"}


def test_increments_keep_their_row_groups_through_checkpoints(warehouse: DuckDBWarehouse) -> None:
    """Each increment appends a partly filled row group. DuckDB's checkpoint vacuum merged two
    such neighbours (rewriting both) every other day: 2-6 s more per 300k-row file on alternate
    days in bench/bench_incremental.py. Connections of the local warehouse leave them as appended."""
    for _ in range(3):  # three increments of 50,000 rows, each committed and checkpointed
        conn = warehouse.hook().get_conn()
        conn.execute("CREATE TABLE IF NOT EXISTS t (n BIGINT, s VARCHAR)")
        conn.execute("INSERT INTO t SELECT i, CAST(i AS VARCHAR) FROM range(50000) AS r(i)")
        conn.execute("CHECKPOINT")
        conn.close()
    conn = warehouse.hook().get_conn()
    (groups,) = conn.execute("SELECT COUNT(DISTINCT row_group_id) FROM pragma_storage_info('t')").fetchone()
    (rows,) = conn.execute("SELECT COUNT(*) FROM t").fetchone()
    conn.close()
    assert (groups, rows) == (3, 150_000)  # with the vacuum: 2 (the first two merged on the second day)


def test_a_hook_on_a_database_file_does_not_claim_an_in_memory_database(tmp_path: Path) -> None:
    """Benches and tests build hooks with ``database=``; the provider then looked its default
    connection up anyway and logged that it used an in-memory database, while it used the file."""
    database = tmp_path / "w.duckdb"
    hook = BigQueryDialectDuckDBHook(database=str(database))
    with capture_logs() as logged:  # Airflow's hooks log through structlog
        hook.run("CREATE TABLE t AS SELECT 1 AS n")
    events = [entry["event"] % entry.get("positional_args", ()) for entry in logged]
    assert f"Opening DuckDB database {database}" in events
    assert not [event for event in events if "in-memory" in event]
    assert duckdb.connect(str(database)).execute("SELECT n FROM t").fetchall() == [(1,)]


def test_the_next_process_reads_a_transpiled_statement_from_beside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Airflow task is a process of its own: a statement transpiled by one task is read by
    the next from the warehouse's directory, unless sqlglot or the transpile code changed."""
    from fraud_mlops.warehouse import transpile

    database = tmp_path / "w.duckdb"
    statement = "CREATE OR REPLACE TABLE t AS SELECT DIV(7 + 1, 2) AS n"
    BigQueryDialectDuckDBHook(database=str(database)).run(statement)
    (kept,) = (tmp_path / "transpiled").glob("*.sql")
    assert kept.read_text() == "CREATE OR REPLACE TABLE t AS SELECT (7 + 1) // 2 AS n"

    def no_sqlglot(*args: object, **kwargs: object) -> None:
        raise AssertionError("transpiled again")

    transpile.transpile_cached.cache_clear()  # as in a new process
    transpile.transpile_statement.cache_clear()
    monkeypatch.setattr(transpile.sqlglot, "parse_one", no_sqlglot)
    BigQueryDialectDuckDBHook(database=str(database)).run(statement)
    assert duckdb.connect(str(database)).execute("SELECT n FROM t").fetchall() == [(4,)]

    transpile.transpile_cached.cache_clear()
    monkeypatch.setattr(transpile, "_code_version", lambda: "another sqlglot or transpile.py")
    with pytest.raises(AssertionError, match="transpiled again"):
        BigQueryDialectDuckDBHook(database=str(database)).run(statement)


def test_a_datasets_schema_comes_with_its_first_table(tmp_path: Path) -> None:
    """No SQL here creates a dataset (infra/ does on gcp, where the account may not): the hook
    makes the schema of the dataset a CREATE names, once, and nothing for a temporary table."""
    from fraud_mlops.warehouse.transpile import dataset_created_in

    database = tmp_path / "w.duckdb"
    BigQueryDialectDuckDBHook(database=str(database)).run(
        "-- a comment first, as the SQL files have\n"
        "CREATE TABLE IF NOT EXISTS `fraud_raw.raw_transactions` (n INT64);\n"
        "CREATE OR REPLACE TABLE `fraud_raw.other` AS SELECT 1 AS n;\n"
        "CREATE TEMP TABLE scratch AS SELECT 1 AS n;\n"
        "CREATE OR REPLACE VIEW `reporting.v` AS SELECT n FROM `fraud_raw.other`"
    )
    schemas = duckdb.connect(str(database)).execute(
        "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = 'w' ORDER BY 1"
    )
    assert [s for (s,) in schemas.fetchall()] == ["fraud_raw", "main", "reporting"]
    assert dataset_created_in("CREATE SNAPSHOT TABLE `fraud.s` CLONE `fraud.t`") == "fraud"
    assert dataset_created_in("CREATE TABLE IF NOT EXISTS `my-project.fraud.t` (n INT64)") == "fraud"
    assert dataset_created_in("INSERT INTO `fraud.t` SELECT 1") is None
    assert dataset_created_in("CREATE TEMP TABLE t AS SELECT 1") is None
