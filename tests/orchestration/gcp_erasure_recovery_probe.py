"""Fail ``fraud_erase_card`` (gcp) at ``confirm_files_erased`` on a quarantined gzip no erasure can
read, then recover that run as the DAG's doc and docs/least_privilege.md say: delete the file,
clear ``erase_from_landed_files`` with its downstream tasks ("only failed" unticked), and let the
same run go on to its end. Print what the run was at each step, as JSON.

A subprocess of test_gcp_erasure_dag.py, in gcp_erasure_probe.py's world (the GCS emulator,
BigQuery's REST API in memory keeping the transform lease's row, Vertex's admin client patched).

The clear is the request the UI's clear dialog sends, ``POST /api/v2/dags/{dag_id}/clearTaskInstances``,
answered in this process by the API server's own app (``create_app("core")``, the simple auth
manager, all admins) on the same metadata DB: Airflow decides what it clears. The second pass
runs the cleared run itself; ``dag.test()`` cannot: it clears every task instance of its logical
date (``SerializedDAG.clear_dags``) and deletes a run there to create a new one
(``get_or_create_dagrun``), which would undo the partial clear. ``run_on`` does what the
scheduler does to a queued run, then ``dag.test()``'s own loop.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from fraud_mlops.settings import REPO_ROOT, get_settings
from tests.bigquery_rest import FakeBigQueryREST, patched_get_client
from tests.orchestration.gcp_erasure_probe import ARCHIVED, BROKEN, SYNC_NAME, landing_csv
from tests.orchestration.probe_support import (
    card_pseudonym_answer,
    gcs_emulator,
    test_dag,
    transform_lease_row,
    vertex_feature_store,
    vertex_online_store,
)

log = logging.getLogger(__name__)

DAG_ID = "fraud_erase_card"
#: What the UI's clear dialog of a task instance posts once confirmed, "Downstream" ticked and
#: "Only failed" unticked (its bundle, airflow/ui/dist: ``dry_run`` false, the four ``include_*``
#: flags, ``only_failed``, ``task_ids`` ``[task_id]`` for an unmapped task). ``reset_dag_runs`` is
#: left at its default, as the UI leaves it: a finished run is queued again.
UI_CLEAR: dict[str, Any] = {
    "dry_run": False,
    "include_downstream": True,
    "include_future": False,
    "include_past": False,
    "include_upstream": False,
    "only_failed": False,
    "task_ids": ["erase_from_landed_files"],
}


def _the_run(session: Any, run_id: str) -> Any:
    """The DAG run ``run_id`` in ``session``, its DAG the serialized version it runs on, as the
    scheduler reads it (``DBDagBag.get_dag_for_run``)."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    run = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id))
    run.dag = DBDagBag().get_dag_for_run(run, session=session)
    return run


def settle(run_id: str) -> None:
    """Commit the run's end as the scheduler decides it. Airflow 3.3.2's ``dag.test()`` raises from
    the failed run's DAG callbacks before it commits the run's "failed" (probe_support.test_dag),
    so the metadata DB still says "running"; a clear would leave that state alone
    (``clear_task_instances`` queues finished runs only) and the UI would show no failed run.
    The scheduler's ``update_state``, its callbacks returned rather than run (the DAG processor
    runs them), marks it failed as a deployment's run is."""
    from airflow.utils.session import create_session

    with create_session() as session:  # committed at its end
        _the_run(session, run_id).update_state(session=session, execute_callbacks=False)


def clear_as_the_ui_does(run_id: str) -> list[str]:
    """Clear ``erase_from_landed_files`` and its downstream tasks in ``run_id`` through the REST
    API, as the UI does; the task ids the API answers it cleared."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    all_admins = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}  # as the local stack runs it
    with mock.patch.dict(os.environ, all_admins), TestClient(create_app("core")) as api:
        response = api.post(
            f"/api/v2/dags/{DAG_ID}/clearTaskInstances", json={**UI_CLEAR, "dag_run_id": run_id}
        )
    assert response.status_code == 200, response.text
    return sorted(ti["task_id"] for ti in response.json()["task_instances"])


def run_on(dag: Any, run_id: str) -> None:
    """Run the cleared DAG run ``run_id`` to its end in this process, without a new run.

    First what the scheduler does to a queued run (``SchedulerJobRunner._start_queued_dagruns``:
    running, from now), then ``DAG.test()``'s loop (airflow/sdk/definitions/dag.py):
    ``update_state`` names the schedulable task instances, each is scheduled (a new try unless
    rescheduled) and run in this process by ``_run_task``, until the run has finished. Its DAG
    callbacks are returned, not run, as the scheduler's are (``execute_callbacks=False``).
    """
    from airflow.sdk import timezone
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    with create_session() as session:
        run = _the_run(session, run_id)
        assert run.state == DagRunState.QUEUED, run  # the clear queued the failed run again
        run.state = DagRunState.RUNNING
        run.start_date = timezone.utcnow()
        session.commit()
        while run.state == DagRunState.RUNNING:
            # each task's state is set through a session of its own, this thread's scoped one,
            # closed after: the run is detached again (dag.test()'s too; it executes the DAG
            # callbacks itself, so never lazy-loads what a callback request needs, the DAG model)
            session.add(run)
            session.expire_all()
            schedulable, _ = run.update_state(session=session, execute_callbacks=False)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
                ti.scheduled_dttm = timezone.utcnow()
            session.commit()
            scheduled = run.get_task_instances(state=[TaskInstanceState.SCHEDULED], session=session)
            if not scheduled and run.state == DagRunState.RUNNING:
                time.sleep(1)  # as dag.test(): a task waiting (rescheduled, deferred) is read again
            for ti in scheduled:
                try:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
                except Exception:  # as dag.test(): the task instance's state says what happened
                    log.exception("Task failed; ti=%s", ti)


def snapshot(run_id: str) -> dict[str, Any]:
    """The run as Airflow's metadata DB has it now, read in a new session (nothing uncommitted):
    its state, its task instances' states and tries, the XComs of ``erase_from_landed_files``,
    and how many runs the DAG has."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id))
        assert run is not None
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id)
        ).all()
        erased = {
            x.key: x.value
            for x in session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == DAG_ID,
                    XComModel.run_id == run_id,
                    XComModel.task_id == "erase_from_landed_files",
                )
            )
        }
        return {
            "state": str(run.state),
            "runs": session.scalar(select(func.count()).select_from(DagRun).where(DagRun.dag_id == DAG_ID)),
            "states": {ti.task_id: str(ti.state) for ti in tis},
            "tries": {ti.task_id: ti.try_number for ti in tis},
            "unreadable": erased.get("unreadable"),
            "removed": erased.get("return_value"),
        }


def main() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    card, others = sys.argv[1], sys.argv[2].split(",")
    fake = FakeBigQueryREST(
        results=card_pseudonym_answer(get_settings(), transform_lease_row(get_settings(), datetime.now(UTC)))
    )
    out: dict[str, Any] = {}
    with gcs_emulator():
        client = storage.Client(project="fraud-prj", credentials=AnonymousCredentials())
        bucket = client.create_bucket("fraud-landing")
        bucket.blob(ARCHIVED).upload_from_string(landing_csv([others[0], card, others[1], card]))
        quarantine = client.create_bucket("fraud-quarantine")
        # ingestion quarantined it (bad_compression): cut short, it does not decompress
        quarantine.blob(BROKEN).upload_from_string(gzip.compress(landing_csv([card]))[:-8])
        with (  # the online store no longer answers for the card: this run fails on the file alone
            patched_get_client(fake),
            vertex_feature_store(SYNC_NAME) as admin,
            vertex_online_store(retained=False),
        ):
            dag, run = test_dag(REPO_ROOT / "dags" / f"{DAG_ID}.py", DAG_ID, {"card_number": card})
            out["left_by_dag_test"] = snapshot(run.run_id)["state"]
            settle(run.run_id)
            out["failed"] = snapshot(run.run_id)
            out["failed"] |= {
                "bigquery_jobs": len(fake.jobs),
                "sync_requests": admin.sync_feature_view.call_count,
            }
            quarantine.blob(BROKEN).delete()  # the person deletes the file the run named
            out["cleared"] = clear_as_the_ui_does(run.run_id)
            out["after_clear"] = snapshot(run.run_id)
            run_on(dag, run.run_id)
            out["recovered"] = snapshot(run.run_id)
            out["recovered"] |= {"sync_requests": admin.sync_feature_view.call_count}
        out["run_id"] = run.run_id
        out["bigquery_jobs"] = fake.jobs
        out["quarantined"] = sorted(blob.name for blob in quarantine.list_blobs())
        out["archived_lines"] = bucket.blob(ARCHIVED).download_as_bytes().decode().splitlines()
    print("PROBE " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
