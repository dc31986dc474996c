"""BigQuery bytes per file as history grows: what on-demand billing would count on the gcp target.

The seconds of bench/bench_incremental.py are DuckDB's; on BigQuery a file's cost is the bytes
its statements read. No BigQuery here, so devtools/bigquery_bytes.py estimates them, statement by
statement, from each statement's DuckDB plan and the local warehouse's rows by BigQuery's sizing
rules (partition pruning by constant filters; UPDATE/DELETE/MERGE also billing their target):
the figure a dry run gives, before clustering prunes more.
A history of daily files (default 30 × 30,000 rows; bytes grow in proportion to the rows a day,
so the ratios hold at 10M a day) lands one file at a time: the local load (free on BigQuery, not
counted), the raw append (10), the plan, the transform (20/30/40), the checks (50) and the
publish (55), as the DAGs run them. For the first and the last day, the previous full-refresh
SQL (tests/reference/full_refresh/) is metered over the same raw rows.
The issue's per-file goal (the last day ≤ 1.5× the first; a full refresh grows ~30×) is set in
seconds (bench_incremental.py); the bytes are printed against it, and against day 8, the first
day whose look-back is a whole window (day 1 reads no history at all).
Usage: ``python bench/bench_bigquery_bytes.py [--days 30] [--rows-per-day 30000] [--dedup-horizon-days N]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import _common
from bench_incremental import START, daily_landing, population

from devtools.bigquery_bytes import BytesMeter, StatementBytes, metering, partitioning
from fraud_mlops.settings import Settings, settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from tests.sql_chain import backdate_load

STEPS = (
    "10_append_raw", "00_setup", "plan", "20_staging", "30_card_features", "40_training_examples",
    "50_quality_checks", "55_publish",
)  # fmt: skip
#: What a DAG run reads after the publish: the run summary, and the feature view's source, which
#: a Vertex sync reads whole (74_online_store_rows.sql is the local sync's read of it).
AFTER_PUBLISH = ("70/71 run summary", "feature view source (74)")


def ingest(hook: object, settings: Settings, meter: BytesMeter, csv: Path, day: int, days_ago: int) -> None:
    """One landed file through load, append, plan, transform, checks and publish (metered but the
    load), as if loaded ``days_ago`` days ago: BigQuery partitions raw rows and the ingestion log
    by load date, and daily files load on their own days (here they all load within minutes)."""
    from fraud_mlops.feature_store.source import latest_features_sql
    from fraud_mlops.ingestion.increment import increment_parameters, plan_increment
    from fraud_mlops.ingestion.training_days import ensure_day_counts
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
    from fraud_mlops.warehouse.duckdb_load import load_csv_into_table

    conn = hook.get_conn()  # type: ignore[attr-defined]
    try:  # a BigQuery load job: free
        rows = load_csv_into_table(conn, csv, settings.raw_dataset, "raw_load_bench")
    finally:
        conn.close()
    params = {
        "file_name": csv.name, "file_generation": "1", "file_md5": f"md5-{day}", "run_id": f"day{day}",
        "expected_rows": str(rows),
    }  # fmt: skip
    run = hook.run  # type: ignore[attr-defined]
    with metering(meter), meter.labelled("10_append_raw"):
        run(render_sql(SQL_FILES["append_raw"], settings, load_table="raw_load_bench"), parameters=params)
    backdate_load(hook, settings, params["run_id"], days=days_ago)
    with metering(meter):
        with meter.labelled("00_setup"):
            run(render_sql(SQL_FILES["setup"], settings))
        with meter.labelled("plan"):
            warehouse = DuckDBWarehouse(settings, settings.warehouse_path)
            ensure_day_counts(warehouse, settings)
            bounds = plan_increment(warehouse, settings, f"day{day}")
        increment = increment_parameters(bounds, f"day{day}")
        for step in ("staging", "card_features", "training_examples"):
            with meter.labelled(SQL_FILES[step].removesuffix(".sql")):
                run(render_sql(SQL_FILES[step], settings), parameters=increment)
        published = {"loaded_from": bounds["loaded_from"], "event_from": bounds["event_from"]}
        with meter.labelled("50_quality_checks"):
            run(render_sql(SQL_FILES["quality_checks"], settings), parameters=published)
        with meter.labelled("55_publish"):
            run(render_sql(SQL_FILES["publish"], settings), parameters=published)
        # the rest of a DAG run that reads the warehouse (the snapshot's clone is free; its lineage
        # row reads the day counts and the snapshot's COUNT(*), which reads no column; the run
        # summary's staging and feature counts are table metadata, Warehouse.row_count, no query)
        with meter.labelled(AFTER_PUBLISH[0]):
            hook.get_records(render_sql("70_summary_counts.sql", settings))  # type: ignore[attr-defined]
            hook.get_records(render_sql("71_summary_rejects.sql", settings))  # type: ignore[attr-defined]
        with meter.labelled(AFTER_PUBLISH[1]):
            run(latest_features_sql(settings))


def by_step(statements: list[StatementBytes]) -> dict[str, tuple[int, int]]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in statements:
        totals[s.label][0] += s.processed
        totals[s.label][1] += s.billed
    return {label: (p, b) for label, (p, b) in totals.items()}


def mb(n: float) -> str:
    """MB to one decimal; three below 0.1 MB, so a ratio of two small reads shows their sizes."""
    if 0 < n < 500:
        return "<0.001"
    return f"{n / 1e6:,.1f}" if n >= 1e5 or n == 0 else f"{n / 1e6:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=30_000)
    parser.add_argument(
        "--dedup-horizon-days", type=int, help="MLOPS_DEDUP_HORIZON_DAYS (default: all, every staged id)"
    )
    args = parser.parse_args()

    from fraud_mlops.pseudonym import ensure_local_keys, local_kek_resolver
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    tmp = Path(tempfile.mkdtemp(prefix="bench-bytes-"))
    try:
        env = {"MLOPS_LOCAL_DIR": str(tmp / "local")}
        if args.dedup_horizon_days is not None:
            env["MLOPS_DEDUP_HORIZON_DAYS"] = str(args.dedup_horizon_days)
        settings = settings_from_env(env)
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        ensure_local_keys(settings.local_dir)
        hook = BigQueryDialectDuckDBHook(
            database=str(settings.warehouse_path),
            snapshot_dir=settings.snapshot_dir,
            kek_resolver=local_kek_resolver(settings.local_dir),
        )
        hook.run(render_sql(SQL_FILES["setup"], settings))
        partitioned = partitioning(render_sql(SQL_FILES["setup"], settings))
        cards, merchants = population(args.rows_per_day)
        n = args.days
        incremental: dict[int, list[StatementBytes]] = {}
        refresh: dict[int, list[StatementBytes]] = {}
        for day in range(n):
            csv = tmp / f"transactions_{(START + timedelta(days=day)):%Y%m%d}.csv"
            csv.write_bytes(daily_landing(day, args.rows_per_day, cards, merchants))
            meter = BytesMeter(partitioned)
            ingest(hook, settings, meter, csv, day, days_ago=n - 1 - day)
            csv.unlink()
            incremental[day + 1] = meter.statements
            total = sum(s.processed for s in meter.statements)
            print(
                f"day {day + 1:2d}: {mb(total)} MB processed, {mb(sum(s.billed for s in meter.statements))} MB billed",
                flush=True,
            )
            if day in (0, n - 1):
                meter = BytesMeter(partitioned)
                with metering(meter), meter.labelled("full refresh"):
                    _common.full_refresh_steps(settings.warehouse_path, tmp / "full.duckdb", settings)
                refresh[day + 1] = meter.statements
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\nBigQuery bytes per file as history grows: {n} daily files × {args.rows_per_day:,} rows, dedup"
        f" horizon {settings.dedup_horizon_days or 'all'}; estimated from the statements' plans"
        " (devtools/bigquery_bytes.py; MB = 10^6 bytes)\n"
    )
    first, last = by_step(incremental[1]), by_step(incremental[n])
    rows = []
    for step in STEPS:
        p1, p2 = first.get(step, (0, 0))[0], last.get(step, (0, 0))[0]
        rows.append((step, mb(p1), mb(p2), f"{p2 / p1:.2f}x" if p1 else "-"))
    for step in AFTER_PUBLISH:
        p1, p2 = first.get(step, (0, 0))[0], last.get(step, (0, 0))[0]
        rows.append((f"after publish: {step}", mb(p1), mb(p2), f"{p2 / p1:.2f}x" if p1 else "-"))
    run1, run_n = (sum(s.processed for s in incremental[d]) for d in (1, n))
    whole_run = {d: list(statements) for d, statements in incremental.items()}
    for d in incremental:  # the per-file figures below: append to publish, as bench_incremental.py times
        incremental[d] = [s for s in incremental[d] if s.label not in AFTER_PUBLISH]
    inc1, inc_n = (sum(s.processed for s in incremental[d]) for d in (1, n))
    ref1, ref_n = (sum(s.processed for s in refresh[d]) for d in (1, n))
    rows.append(("incremental: per file", mb(inc1), mb(inc_n), f"{inc_n / inc1:.2f}x"))
    bill1, bill_n = (sum(s.billed for s in incremental[d]) for d in (1, n))
    rows.append(
        ("incremental: per file, billed (10 MB minimums)", mb(bill1), mb(bill_n), f"{bill_n / bill1:.2f}x")
    )
    rows.append(("full refresh (reference SQL)", mb(ref1), mb(ref_n), f"{ref_n / ref1:.2f}x"))
    rows.append(("the whole run (per file and after publish)", mb(run1), mb(run_n), f"{run_n / run1:.2f}x"))
    print(_common.table(rows, ("step", "day 1 (MB processed)", f"day {n} (MB)", f"day {n} / day 1")))
    ratio = inc_n / inc1
    print(
        f"\nincremental day {n} / day 1: {ratio:.2f}x  (≤ 1.5x, the issue's goal in seconds:"
        f" {'met' if ratio <= 1.5 else 'NOT met'}); full refresh: {ref_n / ref1:.2f}x;"
        f" day {n}'s file reads {inc_n / ref_n:.2f}x a full refresh's bytes"
    )
    if n > 8:
        inc8 = sum(s.processed for s in incremental[8])
        print(
            f"incremental day {n} / day 8 (the first day with a whole look-back): {inc_n / inc8:.2f}x"
            f" ({mb(inc8)} → {mb(inc_n)} MB; the rest grows with history or with the cards' state)"
        )
    print(f"\nday {n}'s statements reading the most (processed MB: reads + a DML target's whole size):")
    for s in sorted(whole_run[n], key=lambda s: -s.processed)[:10]:
        reads = ", ".join(f"{r.table.split('.')[-1]} {mb(r.bytes)}" for r in s.reads if r.bytes)
        target = f"; target {mb(s.target_bytes)}" if s.target_bytes else ""
        print(f"  {mb(s.processed):>9}  {s.label:<22} {' '.join(s.sql.split())[:70]}…  [{reads}{target}]")


if __name__ == "__main__":
    main()
