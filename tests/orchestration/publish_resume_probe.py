"""Run ``fraud_ingest_daily`` on the local target under ``dag.test()``: its online-store sync
fails after it published its file, then the whole run is cleared and runs again (with argument
``new-file``: after a second file landed), then a new run finds nothing new. Print what
happened, as JSON.

A subprocess of test_transform_lease_dag.py. Everything is real (the DuckDB warehouse, the
embedded online store, the GCS emulator with one landed file, Airflow's metadata DB) except the
first sync, which raises as an online store that cannot be reached would. The second
``dag.test()``, with the same logical date, clears the run's task instances as a clear of the
whole run does (``SerializedDAG.clear_dags``: every task, try numbers and ``max_tries`` carried
on, XComs kept until a task runs again); ``get_or_create_dagrun`` is patched to go on with that
run rather than replace it with a new one, as ``dag.test()`` would.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from fraud_mlops.settings import get_settings
from tests.orchestration.probe_support import a_days_file, gcs_emulator, landing_buckets, lease_test_dag

DAG_ID = "fraud_ingest_daily"
RUN_TIME = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _go_on_with_the_cleared_run(*, dag: Any, run_id: str, session: Any, **_: Any) -> Any:
    """``get_or_create_dagrun`` for a run cleared in place: the run itself, running again."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    run = session.scalar(select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id))
    run.state = DagRunState.RUNNING
    session.commit()
    run.dag = dag
    return run


def main() -> None:
    from fraud_mlops.feature_store import sync
    from fraud_mlops.feature_store.local_store import LocalOnlineStore
    from fraud_mlops.pseudonym import ensure_local_keys
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    settings = get_settings()
    ensure_local_keys(settings.local_dir)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBWarehouse(settings, settings.warehouse_path)

    def counts() -> dict[str, Any]:
        def one(sql: str) -> Any:
            ((value,),) = warehouse.records(sql)
            return value

        current = LocalOnlineStore(settings.online_store_path).current_sync()
        return {
            "staged": one(f"SELECT COUNT(*) FROM `{settings.dataset_ref}.stg_transactions`"),
            "lineage": [
                list(row)
                for row in warehouse.records(
                    f"SELECT snapshot_name, run_id FROM `{settings.dataset_ref}.snapshot_lineage` ORDER BY created_at"
                )
            ],
            "sync_source": None if current is None else current.source_snapshot,
            "synced_rows": None if current is None else current.row_count,
        }

    def states(run: Any) -> dict[str, str]:
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances() if ti.map_index < 0}

    csv = a_days_file(Path(sys.argv[1]))
    out: dict[str, Any] = {}
    with gcs_emulator():
        landing = landing_buckets(settings)
        landing.blob(f"{settings.landing_prefix}day1.csv").upload_from_filename(str(csv))
        dag = lease_test_dag(DAG_ID)

        unreachable = RuntimeError("the online store cannot be reached")
        with mock.patch.object(sync, "sync_local_online_store", side_effect=unreachable):
            failed = dag.test(logical_date=RUN_TIME, run_after=RUN_TIME)
        out["failed"] = {"run_id": failed.run_id, "state": str(failed.state), "states": states(failed)}
        out["failed"] |= counts()

        if sys.argv[2:] == ["new-file"]:  # landed before the clear: the cleared run publishes again
            day2 = a_days_file(Path(sys.argv[1]), seed=4, name="day2.csv")
            landing.blob(f"{settings.landing_prefix}day2.csv").upload_from_filename(str(day2))
        with mock.patch("airflow.models.dagrun.get_or_create_dagrun", _go_on_with_the_cleared_run):
            cleared = dag.test(logical_date=RUN_TIME, run_after=RUN_TIME)
        out["cleared_tries"] = {
            ti.task_id: ti.try_number for ti in cleared.get_task_instances() if ti.map_index < 0
        }
        out["cleared"] = {"run_id": cleared.run_id, "state": str(cleared.state), "states": states(cleared)}
        out["cleared"] |= counts()

        later = dag.test(logical_date=datetime(2026, 12, 8, 3, 0, tzinfo=UTC))
        out["later"] = {"run_id": later.run_id, "state": str(later.state), "states": states(later)}
        out["later"] |= counts()
    print("PROBE " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
