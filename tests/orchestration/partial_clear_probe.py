"""Run ``fraud_ingest_daily`` on the local target under ``dag.test()`` as a partial clear leaves a
run: its ``acquire_transform_lease`` a success without this run holding the lease (Airflow's
``mark_success_pattern`` marks the setup and its teardown done without running them). Twice:
while an erasure holds the lease, then while nobody does. Print what happened, as JSON.

A subprocess of test_transform_lease_dag.py. Everything is real: the DuckDB warehouse holding
one ingested file, the GCS emulator with a second file landed, Airflow's metadata DB, where the
holder is a ``fraud_erase_card`` run in state ``running``.
"""

from __future__ import annotations

import json
from typing import Any

from fraud_mlops.settings import get_settings
from tests.orchestration.probe_support import gcs_emulator, hold_lease_as_running_run, lease_test_dag

DAG_ID = "fraud_ingest_daily"
HOLDER = ("fraud_erase_card", "manual__2026-12-06T10:00:00+00:00")
#: The state an "only failed" clear leaves: the setup (and the teardown) done, not run again.
AS_IF_CLEARED = r"^(acquire|release)_transform_lease$"


def main() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from devtools.generator.files import write_landing_csv
    from devtools.generator.synth import GeneratorConfig, generate
    from fraud_mlops.ingestion.transform_lease import Holder, holder, release
    from fraud_mlops.pseudonym import ensure_local_keys
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
    from tests.sql_chain import load_landing, transform

    settings = get_settings()
    ensure_local_keys(settings.local_dir)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    hook = BigQueryDialectDuckDBHook(
        database=str(settings.warehouse_path), snapshot_dir=settings.snapshot_dir
    )
    load_landing(hook, settings, generate(GeneratorConfig(rows=500, seed=5)).landing.astype(str), "a.csv")
    transform(hook, settings)
    warehouse = DuckDBWarehouse(settings, settings.warehouse_path)
    hold_lease_as_running_run(warehouse, settings, *HOLDER)

    def raw_rows() -> int:
        ((rows,),) = warehouse.records(f"SELECT COUNT(*) FROM `{settings.raw_dataset_ref}.raw_transactions`")
        return int(rows)

    landed = f"{settings.landing_prefix}b.csv"
    csv_path = write_landing_csv(
        generate(GeneratorConfig(rows=300, seed=6)).landing,
        settings.local_dir / "b.csv",
        show_progress=False,
    )
    out: dict[str, Any] = {"raw_rows_before": raw_rows()}
    with gcs_emulator():
        gcs = storage.Client(project="fraud-prj", credentials=AnonymousCredentials())
        gcs.create_bucket(settings.landing_bucket).blob(landed).upload_from_filename(str(csv_path))
        gcs.create_bucket(settings.quarantine_bucket)
        dag = lease_test_dag(DAG_ID)
        for case in ("held_by_another_run", "free"):
            run = dag.test(mark_success_pattern=AS_IF_CLEARED)
            after = holder(warehouse, settings)
            out[case] = {
                "state": str(run.state),
                "states": {ti.task_id: str(ti.state) for ti in run.get_task_instances() if ti.map_index < 0},
                "raw_rows_after": raw_rows(),
                "landed": sorted(b.name for b in gcs.list_blobs(settings.landing_bucket)),
                "holder_after": None if after is None else [after.dag_id, after.run_id],
            }
            release(warehouse, settings, Holder(*HOLDER))  # the holder's run ends: the lease is free
    out["landed_name"] = landed
    print("PROBE " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
