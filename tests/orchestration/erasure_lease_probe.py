"""Run ``fraud_erase_card`` on the local target under ``dag.test()`` while an ingestion run holds
the transform lease; print what happened, as JSON.

A subprocess of test_transform_lease_dag.py (Airflow's settings and metadata DB are per
process). Everything is real: the DuckDB warehouse holding one ingested file, the GCS emulator,
the local online store, Airflow's metadata DB, where the holder is a ``fraud_ingest_events`` run
in state ``running``. A thread waits until the erasure's ``acquire_transform_lease`` has been
rescheduled twice (it found the lease held), then ends the holder's run as its teardown would:
gives the lease back, and the run succeeds. Only then may the erasure delete.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from fraud_mlops.settings import get_settings
from tests.orchestration.probe_support import (
    gcs_emulator,
    hold_lease_as_running_run,
    lease_test_dag,
    reschedules,
)

HOLDER = ("fraud_ingest_events", "asset_triggered__2026-12-06T10:00:00+00:00")
DAG_ID = "fraud_erase_card"
ACQUIRE = "acquire_transform_lease"


def _end_holder_after_two_reschedules(
    warehouse: Any, settings: Any, pseudonym: str, events: dict[str, Any]
) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    from fraud_mlops.ingestion.transform_lease import Holder, release

    deadline = time.monotonic() + 240
    while reschedules() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    events["reschedules_while_held"] = reschedules()
    events["card_rows_while_held"] = _card_rows(warehouse, settings, pseudonym)
    release(warehouse, settings, Holder(*HOLDER))
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=HOLDER[0], run_id=HOLDER[1]).one()
        run.state = DagRunState.SUCCESS
    events["holder_ended_at"] = datetime.now(UTC).isoformat()


def _card_rows(warehouse: Any, settings: Any, pseudonym: str) -> int:
    ((rows,),) = warehouse.records(
        f"SELECT COUNT(*) FROM `{settings.dataset_ref}.stg_transactions` WHERE card_pseudonym = '{pseudonym}'"
    )
    return int(rows)


def main() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from devtools.generator.synth import GeneratorConfig, generate
    from fraud_mlops import targets
    from fraud_mlops.ingestion.transform_lease import holder
    from fraud_mlops.pseudonym import ensure_local_keys
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
    from tests.sql_chain import load_landing, transform

    settings = get_settings()
    ensure_local_keys(settings.local_dir)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    landing = generate(GeneratorConfig(rows=500, seed=5, rows_per_card=20)).landing.astype(str)
    card = landing["card_number"].iloc[0]
    pseudonym = targets.pseudonymiser(settings)(card)
    hook = BigQueryDialectDuckDBHook(
        database=str(settings.warehouse_path), snapshot_dir=settings.snapshot_dir
    )
    load_landing(hook, settings, landing, "a.csv")
    transform(hook, settings)
    warehouse = DuckDBWarehouse(settings, settings.warehouse_path)
    hold_lease_as_running_run(warehouse, settings, *HOLDER)

    events: dict[str, Any] = {"card_rows_before": _card_rows(warehouse, settings, pseudonym)}
    with gcs_emulator():
        gcs = storage.Client(project="fraud-prj", credentials=AnonymousCredentials())
        gcs.create_bucket(settings.landing_bucket)
        gcs.create_bucket(settings.quarantine_bucket)
        dag = lease_test_dag(DAG_ID)
        ender = threading.Thread(
            target=_end_holder_after_two_reschedules,
            args=(warehouse, settings, pseudonym, events),
            daemon=True,
        )
        ender.start()
        run = dag.test(run_conf={"card_number": card})
        ender.join(timeout=5)

    tis = {ti.task_id: ti for ti in run.get_task_instances() if ti.map_index < 0}
    after = holder(warehouse, settings)
    print("PROBE " + json.dumps({
        "state": str(run.state),
        "states": {task_id: str(ti.state) for task_id, ti in tis.items()},
        "events": events,
        "acquired_at": tis[ACQUIRE].end_date.isoformat() if tis[ACQUIRE].end_date else None,
        "erase_started_at": tis["erase_card_rows"].start_date.isoformat(),
        "card_rows_after": _card_rows(warehouse, settings, pseudonym),
        "holder_after": None if after is None else [after.dag_id, after.run_id],
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
