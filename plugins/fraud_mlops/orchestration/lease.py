"""The transform lease's two tasks, for every DAG that reads landed files or writes what the
ingestion runs build: the three ingestion DAGs and the erasure.

An ingestion run holds the lease from before it lists the landed files to the end of its
online-store sync; ``fraud_erase_card`` holds it from before its delete to the end of its own
sync. So no ingestion run reads a file the erasure has not rewritten yet and appends its rows
after the erasure's delete, builds candidates from raw rows read before that delete, or syncs
features it read before it; and two ingestion runs never interleave (the reasons:
:mod:`fraud_mlops.ingestion.transform_lease`).

``acquire_transform_lease`` is a setup task (a rescheduling sensor: a waiting run holds no
worker slot; once it holds the lease it drops the per-file load tables earlier runs left) and
``release_transform_lease`` its teardown, which drops those left since, then gives the lease
back whatever happened between, also when a step failed. So a failed run is cleared with its setup: clear it
from ``acquire_transform_lease`` (downstream included), or the whole run. Clearing only the
failed tasks (the "only failed" clear) leaves the setup as it was, a success: Airflow filters it
out of such a clear (a clear of tasks, "only failed" unticked, takes their setup and teardown
with them). The cleared tasks would then
run without the lease, beside whichever run holds it; :func:`require_transform_lease`, the
``pre_execute`` of every task of the project's DAGs, fails them first.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import PokeReturnValue, task
from airflow.sdk.exceptions import AirflowFailException

from fraud_mlops import targets
from fraud_mlops.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: How long a run waits for another run to give the lease back before it fails. Its landed files
#: stay where they are: the next sensor or daily run takes them; an event run's objects wait
#: for one of those, as objects past a run's file limit do (docs/ingestion.md).
LEASE_WAIT = timedelta(hours=6)


def acquire_transform_lease(settings: Settings) -> Any:
    """The setup task: waits until this DAG run holds the lease (takes it over from a holder
    whose run is no longer queued or running)."""

    @task.sensor(
        pool=settings.warehouse_pool,
        mode="reschedule",
        poke_interval=30,
        timeout=LEASE_WAIT.total_seconds(),
    )
    def acquire_transform_lease(**context: Any) -> PokeReturnValue:
        """Wait until this run holds the transform lease: an ingestion run or an erasure holds it
        until its teardown gives it back. Then drop the per-file load tables earlier runs left."""
        from fraud_mlops.ingestion.transform_lease import Holder, claim, holder_is_active

        ti, dag_run = context["ti"], context["dag_run"]

        def runs_in_flight(holder: Holder) -> int:
            return int(
                ti.get_dr_count(dag_id=holder.dag_id, run_ids=[holder.run_id], states=["queued", "running"])
            )

        def is_active(holder: Holder) -> bool:
            active = holder_is_active(holder, runs_in_flight)
            if not active:
                print(f"taking over the transform lease from {holder}: that run is no longer running")
            return active

        warehouse = targets.warehouse(settings)
        other = claim(warehouse, settings, Holder(dag_run.dag_id, dag_run.run_id), is_active)
        if other is not None:
            print(f"waiting: the transform lease is held by {other}")
            return PokeReturnValue(is_done=False)
        # Held: no load task is running, so every per-file load table is one an earlier run
        # left (a load killed mid-job, a run failed between a load and its append), a file's
        # rows with card numbers in clear that raw retention and an erasure would never reach.
        _drop_leftovers(warehouse, "an earlier run")
        return PokeReturnValue(is_done=True)

    return acquire_transform_lease().as_setup()


def release_transform_lease(settings: Settings, acquire: Any) -> Any:
    """The teardown of ``acquire`` (place it after the last task that needs the lease)."""

    @task(pool=settings.warehouse_pool)
    def release_transform_lease(**context: Any) -> None:
        """Drop the per-file load tables left, then give the transform lease back (a teardown:
        also after a failed step or check)."""
        from fraud_mlops.ingestion.transform_lease import Holder, holder, release

        dag_run = context["dag_run"]
        warehouse = targets.warehouse(settings)
        me = Holder(dag_run.dag_id, dag_run.run_id)
        # While this run holds it (not when this teardown alone is cleared, beside another
        # holder's loads): this run's own leftovers (a failed run's loads; a clear from
        # acquire_transform_lease loads again), and a load job of a run whose lease this one took
        # over, which BigQuery finished after that run's tasks were killed. Not raised: the lease
        # must go back.
        try:
            if me.same_run(holder(warehouse, settings)):
                _drop_leftovers(warehouse, "this run or one before it")
        except Exception:
            log.exception("could not drop the per-file load tables left: the next run holding the lease will")
        release(warehouse, settings, me)

    return release_transform_lease().as_teardown(setups=acquire)


def _drop_leftovers(warehouse: Any, by: str) -> None:
    """Drop the per-file load and reject tables there are; only ever while holding the lease,
    when no load task is running (``Warehouse.drop_leftover_load_tables``). Each is named in the
    task log once dropped."""
    for table in warehouse.drop_leftover_load_tables():
        log.warning("dropped %s: a per-file table %s left behind", table, by)


ACQUIRE_TASK_ID = "acquire_transform_lease"
RELEASE_TASK_ID = "release_transform_lease"


class TransformLeaseNotHeld(AirflowFailException):
    """A task that needs the lease ran in a run that does not hold it (not retried: a retry
    would find the same)."""


def in_lease_scope(task: Any) -> bool:
    """Whether ``task`` runs under its DAG's transform lease: downstream of the DAG's
    ``acquire_transform_lease`` and upstream of its ``release_transform_lease`` (the teardown
    waits for exactly these). Read from the DAG's graph, so a task added between them is guarded
    without being listed anywhere."""
    dag = getattr(task, "dag", None)
    if dag is None or not dag.has_task(ACQUIRE_TASK_ID) or not dag.has_task(RELEASE_TASK_ID):
        return False
    node = dag.get_task(task.task_id)  # a mapped task's own node (the unmapped copy has no edges)
    return ACQUIRE_TASK_ID in node.get_flat_relative_ids(
        upstream=True
    ) and RELEASE_TASK_ID in node.get_flat_relative_ids(upstream=False)


def require_transform_lease(context: Any) -> None:
    """``pre_execute`` of every task (``DEFAULT_ARGS``): a task in a lease's scope runs only while
    its own DAG run holds the lease.

    After an "only failed" clear the run's ``acquire_transform_lease`` stays a success from the
    first try, and its teardown has already given the lease back: without this check the cleared
    tasks would append, transform or publish beside another run, or after an erasure's delete.
    One read of the lease's row (12_lease_holder.sql) per task; tasks outside the scope read
    nothing. Nobody else can take the lease over while this run is running, so the read holds
    for the task's whole run."""
    task, dag_run = context["task"], context["dag_run"]
    if not in_lease_scope(task):
        return
    from fraud_mlops.ingestion.transform_lease import Holder, holder

    settings = get_settings()
    me = Holder(dag_run.dag_id, dag_run.run_id)
    held = holder(targets.warehouse(settings), settings)
    if me.same_run(held):
        return
    raise TransformLeaseNotHeld(
        f"this run does not hold the transform lease ({'held by ' + str(held) if held else 'nobody holds it'}): "
        f"{task.task_id} ran without {ACQUIRE_TASK_ID}, as after an 'only failed' clear. "
        f"Clear this run from {ACQUIRE_TASK_ID} (downstream included), or clear the whole run."
    )
