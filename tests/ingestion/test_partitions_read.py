"""Which partitions an in-order file's run reads, from the plans of the statements it really runs.

The rendering tests (tests/dags/test_gcp_rendering.py) show that every read of a partitioned
table filters its partitioning column; this shows what those filters leave. Ten daily files
land in order, each as if loaded on its own day (raw rows and the ingestion log are
partitioned by load date), and the tenth is metered with devtools/bigquery_bytes.py: every
read of a partitioned table names its days, and none reaches before what the increment needs:
raw rows and log rows from its load day, staging and features from its look-back (and, with a
dedup horizon, the staged ids from that many days before it). A fallback that named every
earlier partition (30's ``earlier`` before e457562) or a margin of a day (raw read twice)
fails here.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from devtools.bigquery_bytes import BytesMeter, metering, partitioning
from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
from tests.sql_chain import backdate_load, load_landing, transform

DAYS = 10
FIRST_DAY = datetime(2026, 10, 1, tzinfo=UTC)
#: Reads of every partition, on purpose (the same as the rendering test's WHOLE_TABLE_READS for
#: these steps): a file's identity against every earlier load, the oldest untransformed file.
WHOLE = {"ingestion_log"}


def land_in_order(
    warehouse: BigQueryDialectDuckDBHook, settings: Settings, meter: BytesMeter
) -> dict[str, str]:
    """Land and transform DAYS daily files, the last one metered; its plan."""
    bounds: dict[str, str] = {}
    for day in range(DAYS):
        landing = generate(
            GeneratorConfig(
                rows=1_000, seed=day, start=FIRST_DAY + timedelta(days=day), days=1, rows_per_card=15
            )
        ).landing
        load_landing(warehouse, settings, landing, f"day{day}.csv", run_id=f"r{day}")
        backdate_load(warehouse, settings, f"r{day}", days=DAYS - 1 - day)
        if day < DAYS - 1:
            transform(warehouse, settings, run_id=f"r{day}", check=True)
        else:
            with metering(meter):
                bounds = transform(warehouse, settings, run_id=f"r{day}", check=True)
    assert bounds["older_until"] == "0001-01-01"  # in order: no older staging needed
    return bounds


def reads_before(meter: BytesMeter, earliest: dict[str, date]) -> list[str]:
    """Reads of a partitioned table that name no days, or days before ``earliest[table]``."""
    found = []
    for statement in meter.statements:
        for read in statement.reads:
            table = read.table.split(".")[-1]
            if table not in earliest or ".fraud_candidates." in read.table or not read.bytes:
                continue
            if read.days is None or read.days[0].date() < earliest[table]:
                first = "every day" if read.days is None else read.days[0].date()
                found.append(f"{table} from {first}: {' '.join(statement.sql.split())[:90]}")
    return found


def test_an_in_order_file_reads_only_the_partitions_its_increment_needs(warehouse, local_settings) -> None:
    settings = dataclasses.replace(local_settings, dedup_horizon_days=3)
    partitioned = partitioning(render_sql(SQL_FILES["setup"], settings))
    meter = BytesMeter(partitioned)
    bounds = land_in_order(warehouse, settings, meter)
    now = datetime.now(UTC)
    # the last file loaded today: its load-date partition (and the day before within the hour's margin)
    load_day = now.date() - timedelta(days=1 if now.hour < 1 else 0)
    event_from = date.fromisoformat(bounds["event_from"])
    earliest = {
        "raw_transactions": load_day,
        "rejected_lines": load_day,
        "rejected_rows": load_day,
        "stg_transactions": event_from - timedelta(days=3),  # the staged ids within the horizon
        "card_features": event_from,
        "training_examples": event_from,
    }
    assert set(earliest) | WHOLE == set(partitioned)
    assert reads_before(meter, earliest) == []
    read = {r.table.split(".")[-1] for s in meter.statements for r in s.reads if r.bytes}
    assert {"raw_transactions", "stg_transactions", "card_features"} <= read  # the meter saw the run
