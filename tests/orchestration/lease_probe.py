"""Run ``fraud_ingest_daily`` on the local target under ``dag.test()`` while a run of another
ingestion DAG holds the transform lease and is still running; print what happened, as JSON.

A subprocess of test_transform_lease_dag.py (Airflow's settings and metadata DB are per
process). Everything is real: the DuckDB warehouse, the GCS emulator with one landed file,
Airflow's metadata DB, where the holder is a ``fraud_ingest_sensor`` run in state ``running``.
A thread waits until the daily run's ``acquire_transform_lease`` has been rescheduled twice
(it found the lease held), then ends the holder's run as a person marking it failed would,
without its teardown: the next poke finds the holder no longer running and takes the lease over.
A second run then finds only the same content landed again, so its plan short-circuits the rest.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraud_mlops.settings import get_settings
from tests.orchestration.probe_support import (
    a_days_file,
    gcs_emulator,
    hold_lease_as_running_run,
    landing_buckets,
    lease_test_dag,
    reschedules,
)

HOLDER = ("fraud_ingest_sensor", "manual__2026-12-05T10:00:00+00:00")
#: A load table of the holder's run, in flight: the waiting run must not drop it.
HOLDERS_LOAD = "raw_load_0123456789abcdef_01234567"
DAG_ID = "fraud_ingest_daily"
ROWS = 3_000  # the quality checks want 1,000 training rows and some fraud
ACQUIRE = "acquire_transform_lease"


def _end_holder_after_two_reschedules(events: dict[str, Any]) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    deadline = time.monotonic() + 240
    while reschedules() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    events["reschedules_while_held"] = reschedules()
    events["holders_load_table_while_held"] = _holders_load_table_exists()
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=HOLDER[0], run_id=HOLDER[1]).one()
        run.state = DagRunState.FAILED
    events["holder_ended_at"] = datetime.now(UTC).isoformat()


def _holders_load_table_exists() -> bool:
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    settings = get_settings()
    conn = DuckDBWarehouse(settings, settings.warehouse_path).hook().get_conn()
    try:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [settings.raw_dataset, HOLDERS_LOAD],
        ).fetchone()
    finally:
        conn.close()
    return bool(found and found[0])


def main() -> None:
    from fraud_mlops.ingestion.transform_lease import holder
    from fraud_mlops.pseudonym import ensure_local_keys
    from fraud_mlops.sql_templates import SQL_FILES, render_sql
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    settings = get_settings()
    ensure_local_keys(settings.local_dir)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBWarehouse(settings, settings.warehouse_path)
    warehouse.execute(render_sql(SQL_FILES["setup"], settings))
    hold_lease_as_running_run(warehouse, settings, *HOLDER)
    warehouse.execute(f"CREATE TABLE {settings.raw_dataset}.{HOLDERS_LOAD} AS SELECT 1 AS n")

    csv = a_days_file(Path(sys.argv[1]), ROWS)
    events: dict[str, Any] = {}
    with gcs_emulator():
        landing = landing_buckets(settings)
        landing.blob(f"{settings.landing_prefix}day1.csv").upload_from_filename(str(csv))

        dag = lease_test_dag(DAG_ID)
        ender = threading.Thread(target=_end_holder_after_two_reschedules, args=(events,), daemon=True)
        ender.start()
        run = dag.test()
        ender.join(timeout=5)
        first_holder_after = holder(warehouse, settings)
        events["holders_load_table_after"] = _holders_load_table_exists()

        # the same content landed again: loaded as a duplicate, nothing new to transform, so the
        # plan short-circuits the rest; the teardown must still give the lease back
        landing.blob(f"{settings.landing_prefix}day1-again.csv").upload_from_filename(str(csv))
        rerun = dag.test()

    tis = {ti.task_id: ti for ti in run.get_task_instances() if ti.map_index < 0}
    acquired = tis[ACQUIRE]
    after = holder(warehouse, settings)
    rerun_states = {ti.task_id: str(ti.state) for ti in rerun.get_task_instances() if ti.map_index < 0}
    ((staged,),) = warehouse.records(f"SELECT COUNT(*) FROM `{settings.dataset_ref}.stg_transactions`")
    print("PROBE " + json.dumps({
        "state": str(run.state),
        "states": {task_id: str(ti.state) for task_id, ti in tis.items()},
        "events": events,
        "acquired_at": acquired.end_date.isoformat() if acquired.end_date else None,
        "holder_after_first": None if first_holder_after is None else [first_holder_after.dag_id, first_holder_after.run_id],
        "rerun_states": rerun_states,
        "holder_after": None if after is None else [after.dag_id, after.run_id],
        "staged_rows": staged,
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
