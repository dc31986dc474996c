"""prediction_log is partitioned by day on BigQuery, so an hourly monitoring run reads its
windows' days, not every day's feature vectors: shown from the plans of the window query
(84_monitoring_served.sql), the canary evidence (86) and the append's MERGE (83) on the real
local warehouse, sized by BigQuery's rules (devtools/bigquery_bytes.py), against the same table
read unpartitioned."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from devtools.bigquery_bytes import BytesMeter, metering, partitioning
from fraud_mlops import targets
from fraud_mlops.monitoring.canary_apply import FAILURE_BASELINE, canary_sql_values
from fraud_mlops.monitoring.windows import MAX_ROWS, Windows
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import EARLIEST_INSTANT, render_sql, sql_instant
from fraud_mlops.warehouse.transpile import transpile_statement
from tests.monitoring.prediction_log_history import log_history

FIRST_DAY = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30


def test_the_prediction_log_ddl_partitions_by_day_and_clusters_by_source_and_version(
    gcp_settings: Settings,
) -> None:
    import sqlglot
    from sqlglot import exp

    # the statements that create it (the shared macro; erasure uses it too)
    for sql_file in ("97_prediction_log_incoming.sql", "87_reporting_views.sql"):
        sql = render_sql(sql_file, gcp_settings, batch_from=EARLIEST_INSTANT)
        assert partitioning(sql).get("prediction_log") == "logged_at", sql_file
    create = next(
        s
        for s in sqlglot.parse(
            render_sql("97_prediction_log_incoming.sql", gcp_settings, batch_from=EARLIEST_INSTANT),
            read="bigquery",
        )
        if isinstance(s, exp.Create) and s.find(exp.Table).name == "prediction_log"  # type: ignore[union-attr]
    )
    cluster = create.find(exp.ClusterProperty)
    assert cluster is not None and [c.name for c in cluster.expressions] == ["source", "model_version"]
    assert "require_partition_filter" not in create.sql(dialect="bigquery")  # the views read every day


def test_a_monitoring_window_reads_only_its_days(local_settings: Settings) -> None:
    log_history(local_settings, FIRST_DAY, DAYS, answers_per_day=40)
    end = FIRST_DAY + timedelta(days=DAYS - 1, hours=12)
    span = Windows.ending(end, current=timedelta(hours=24), reference=timedelta(days=7))
    partitioned = BytesMeter(
        partitioning(
            render_sql("97_prediction_log_incoming.sql", local_settings, batch_from=EARLIEST_INSTANT)
        )
    )
    unpartitioned = BytesMeter({})
    conn = duckdb.connect(str(local_settings.warehouse_path), read_only=True)
    try:
        for start, stop in ((span.current_start, span.end), (span.reference_start, span.current_start)):
            sql = transpile_statement(
                render_sql(
                    "84_monitoring_served.sql",
                    local_settings,
                    start=sql_instant(start),
                    end=sql_instant(stop),
                    limit=MAX_ROWS,
                )
            )
            partitioned.observe(conn, sql)
            unpartitioned.observe(conn, sql)
    finally:
        conn.close()

    (current,), (reference,) = (s.reads for s in partitioned.statements)
    assert current.days is not None and reference.days is not None
    assert (current.days[0].date(), current.days[1].date()) == (span.current_start.date(), span.end.date())
    assert reference.days[0].date() == span.reference_start.date()
    whole = sum(s.processed for s in unpartitioned.statements)
    read = sum(s.processed for s in partitioned.statements)
    # each query reads its window's days, the days it starts and ends on included: 2 + 8 of
    # 30 equal days, where an unpartitioned table is read whole by both
    assert abs(read / whole - 10 / 60) < 0.01, (read, whole)


def test_the_canary_evidence_reads_from_the_canarys_deployment(local_settings: Settings) -> None:
    """86_canary_window.sql's bounds name the days it reads: from a day before the canary's
    deployment (the baseline of failures naming no model) on, whatever the history."""
    log_history(local_settings, FIRST_DAY, DAYS, answers_per_day=40)
    deployed = FIRST_DAY + timedelta(days=DAYS - 3, hours=10)
    sql = transpile_statement(
        render_sql("86_canary_window.sql", local_settings, **canary_sql_values("1", "2", deployed))
    )
    meter = BytesMeter(
        partitioning(
            render_sql("97_prediction_log_incoming.sql", local_settings, batch_from=EARLIEST_INSTANT)
        )
    )
    conn = duckdb.connect(str(local_settings.warehouse_path), read_only=True)
    try:
        (statement,) = [s for s in [meter.observe(conn, sql)] if s is not None]
    finally:
        conn.close()
    (read,) = statement.reads
    assert read.days is not None and read.days[0].date() == (deployed - FAILURE_BASELINE).date()


def test_the_append_looks_for_repeats_only_from_a_day_before_its_earliest_row(
    local_settings: Settings,
) -> None:
    """83_prediction_log.sql's MERGE reads the log's days from a day before the earliest
    incoming row (its merge condition's constant), not every day's keys on every hourly run;
    and still skips the repeats it brings."""
    log_history(local_settings, FIRST_DAY, DAYS, answers_per_day=40)
    warehouse = targets.warehouse(local_settings)
    last_day = FIRST_DAY + timedelta(days=DAYS - 1)
    repeats = warehouse.read_arrow(
        f"SELECT * FROM `{local_settings.dataset}.prediction_log` WHERE logged_at >= TIMESTAMP('{sql_instant(last_day)}')"
    )
    new = records.record(
        request_id="new", source=records.ONLINE, status=200, logged_at=last_day + timedelta(hours=23)
    )
    warehouse.replace_table(
        records.STAGING_TABLE,
        pa.concat_tables(
            [
                repeats.select(records.arrow_schema().names).cast(records.arrow_schema()),
                records.to_arrow([new]),
            ]
        ),
    )
    meter = BytesMeter(
        partitioning(
            render_sql("97_prediction_log_incoming.sql", local_settings, batch_from=EARLIEST_INSTANT)
        )
    )
    with metering(meter):
        logged_from = append_staged(warehouse, local_settings)

    assert logged_from == sql_instant(last_day - timedelta(days=1))
    (merge,) = [s for s in meter.statements if s.sql.lstrip().upper().startswith("MERGE")]
    (log_read,) = [r for r in merge.reads if r.table.endswith("prediction_log")]
    assert log_read.days is not None
    assert (log_read.days[0].date(), log_read.days[1].date()) == (
        (last_day - timedelta(days=1)).date(),
        date.max,
    )
    assert warehouse.row_count("prediction_log") == DAYS * 40 + 1  # the day's 40 repeats skipped
