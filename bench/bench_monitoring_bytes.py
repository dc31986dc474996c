"""BigQuery bytes of an hourly monitoring run as the prediction log grows, partitioned by day or not.

The reads the monitoring DAG sends to ``prediction_log`` every hour (the drift check's two
windows, 84; the newest answer before the sink copy, 93 on gcp; the append's look for repeats,
83's MERGE; the evidence of a canary deployed three days before, 86; the row count, 89) are sized by BigQuery's rules from their DuckDB plans on the real local warehouse
(devtools/bigquery_bytes.py), once with the table's day partitions (macros/monitoring_tables.sql)
and once as if it had none, after 30, 90 and 180 days of online answers. A day's window with a
week's reference should cost the same whatever the history; unpartitioned, it grows with it.
Bytes grow in proportion to the answers a day, so the ratios hold at any traffic.
Usage: ``python bench/bench_monitoring_bytes.py [--answers-per-day 1000] [--days 30 90 180]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common

from devtools.bigquery_bytes import BytesMeter, partitioning
from fraud_mlops.monitoring.canary_apply import canary_sql_values
from fraud_mlops.monitoring.windows import MAX_ROWS, Windows
from fraud_mlops.prediction_log.append import REPEAT_WINDOW
from fraud_mlops.prediction_log.store import CloudPredictionLog
from fraud_mlops.settings import Settings, settings_from_env
from fraud_mlops.sql_templates import EARLIEST_INSTANT, render_sql, sql_instant
from fraud_mlops.warehouse.transpile import split_statements, transpile_statement
from tests.monitoring.prediction_log_history import log_history

FIRST_DAY = datetime(2026, 1, 1, tzinfo=UTC)


def hourly_reads(settings: Settings, end: datetime) -> list[tuple[str, str]]:
    """(label, BigQuery SQL) of the monitoring run's reads of prediction_log ending at ``end``."""
    span = Windows.ending(end)
    served = [
        render_sql(
            "84_monitoring_served.sql", settings, start=sql_instant(a), end=sql_instant(b), limit=MAX_ROWS
        )
        for a, b in ((span.current_start, span.end), (span.reference_start, span.current_start))
    ]
    return [
        ("84 current window (24 h)", served[0]),
        ("84 reference window (7 d)", served[1]),
        (
            "93 newest answer (gcp: the recent week)",
            render_sql(
                "93_prediction_log_newest.sql", settings, since=sql_instant(end - CloudPredictionLog.recent)
            ),
        ),
        (
            # on gcp the staged rows start the sink copy's overlap (48 h) before the newest answer
            "83 append's look for repeats (gcp)",
            next(
                s
                for s in split_statements(
                    render_sql(
                        "83_prediction_log.sql",
                        settings,
                        logged_from=sql_instant(end - timedelta(hours=48) - REPEAT_WINDOW),
                        batch_from=sql_instant(end - timedelta(days=2)),  # a run logged a day before
                        incoming_from=sql_instant(end - timedelta(hours=48)),
                    )
                )
                if s.lstrip().startswith("MERGE")
            ),
        ),
        (
            "86 canary evidence (deployed 3 days before)",
            render_sql(
                "86_canary_window.sql",
                settings,
                **canary_sql_values("1", "2", end - timedelta(days=3)),
            ),
        ),
        ("89 row count", render_sql("89_prediction_log_rows.sql", settings)),
    ]


def main() -> None:
    import duckdb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers-per-day", type=int, default=1_000)
    parser.add_argument("--days", type=int, nargs="+", default=[30, 90, 180])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from_env({"MLOPS_LOCAL_DIR": str(Path(tmp) / "local")})
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        # the warehouse connection the local stack defines, to this run's DuckDB file
        os.environ[f"AIRFLOW_CONN_{settings.warehouse_conn_id.upper()}"] = json.dumps(
            {"conn_type": "duckdb", "host": str(settings.warehouse_path)}
        )
        by_day = partitioning(
            render_sql("97_prediction_log_incoming.sql", settings, batch_from=EARLIEST_INSTANT)
        )
        logged = 0
        for days in sorted(args.days):
            log_history(settings, FIRST_DAY + timedelta(days=logged), days - logged, args.answers_per_day)
            logged = days
            end = FIRST_DAY + timedelta(days=days - 1, hours=12)
            conn = duckdb.connect(str(settings.warehouse_path))  # writable: EXPLAIN of a MERGE (not run)
            try:
                for label, sql in hourly_reads(settings, end):
                    duck = transpile_statement(sql)
                    partitioned = BytesMeter(by_day).observe(conn, duck)
                    whole = BytesMeter({}).observe(conn, duck)
                    p = partitioned.processed if partitioned else 0
                    w = whole.processed if whole else 0
                    rows.append(
                        (days, label, f"{p / 1e6:,.2f}", f"{w / 1e6:,.2f}", f"{w / p:.1f}x" if p else "-")
                    )
            finally:
                conn.close()
    print(
        f"prediction_log reads of one hourly monitoring run, MB processed as BigQuery sizes them "
        f"({args.answers_per_day:,} online answers a day; billing rounds each table read up to 10 MB)\n"
    )
    print(_common.table(rows, ("days logged", "read", "by day", "unpartitioned", "saved")))
    print(
        "\nGoal: every read but the row count costs the same at any history length when partitioned:"
        " the drift windows (84), the newest answer (93, in the recent week), the append's look for"
        " repeats (83, from a day before its earliest row) and the canary evidence (86, from a day"
        " before the canary's deployment). 89 reads no column."
    )


if __name__ == "__main__":
    main()
