"""The ingestion tasks shared by the sensor, scheduled and event-driven DAGs.

Each DAG file wires them in this order::

    setup_tables → acquire_transform_lease (setup)
      → validate_landed_files → load_raw[] → transform → check_data_quality → publish
      → snapshot → feature_sync → summarise_run
                                ↘ release_transform_lease (teardown)

``validate_landed_files`` quarantines bad files and hands the good ones to per-file mapped
tasks in the ``load_raw`` group (one task instance per file: the UI shows each file's load).
A file the load refuses after validation accepted it is quarantined by its load task, and its
append skipped: the run goes on with the other files (``QuarantineRefused``).
After the raw append, ``transform`` processes only the files no run has transformed yet (and
the event dates their rows touch); a rerun finds nothing new and changes nothing. The SQL
steps run ``include/sql/`` files on the target's warehouse (:mod:`fraud_mlops.targets`).

Write-audit-publish: ``transform`` writes the increment as *candidates* (the candidate
dataset: new staging and rejected rows, the touched cards' recomputed feature rows, latest
features and merchant state), ``check_data_quality`` runs the checks on them (and on what
publishing would produce where a check is global), and only then ``publish`` replaces the
touched rows of every published table in one transaction. A failed check fails the run with
the check's message and leaves the published tables, the snapshots and the online store as
they were; it is not retried (the data would fail the same way), and the next run's increment
holds the same files again (transform_log is published with the rest).

One run at a time, across the three DAGs, from listing the landed files to the online-store
sync, and none during an erasure: the DAG files wrap those tasks in the transform lease
(:mod:`fraud_mlops.orchestration.lease`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import TaskGroup, TriggerRule, XComArg, task

from fraud_mlops import assets, targets
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES

RUN_PARAMETERS = {"dag_id": "{{ dag.dag_id }}", "run_id": "{{ run_id }}"}
QUARANTINED_KEY = "quarantined"
LOAD_TASK_ID = "load_raw.load_raw_file"


def setup_tables(settings: Settings) -> Any:
    """Create the dataset and tables if missing (``00_setup.sql``)."""
    return targets.warehouse(settings).sql_operator(
        "setup_tables", SQL_FILES["setup"], doc_md="Create dataset and tables if missing."
    )


def validate_landed_files(settings: Settings, only_objects: Sequence[str] | XComArg | None = None) -> Any:
    """The task checking landed files; its XCom lists the good ones (``key="quarantined"`` the rest).

    ``only_objects`` (object names, or an ``XComArg`` resolving to them, e.g. the objects the
    triggering notifications name) restricts the run to those objects; ``None`` processes
    every object under the landing prefix.
    """

    @task(pool=settings.warehouse_pool)
    def validate_landed_files(only_objects: list[str] | None = None, **context: Any) -> list[dict[str, Any]]:
        """Check each landed file; quarantine bad ones with a reason; return the good ones."""
        from fraud_mlops.ingestion.landed_files import BadLine, record_bad_lines, validate_landed
        from fraud_mlops.landing_schema import LandedFile
        from fraud_mlops.storage import gcs_hook

        warehouse = targets.warehouse(settings)

        def on_bad_lines(landed: LandedFile, bad_lines: Sequence[BadLine]) -> None:
            record_bad_lines(warehouse, landed, bad_lines)
            print(
                f"  {landed.uri}: {len(bad_lines)} unparseable line(s) rejected, {landed.rows} good rows load"
            )

        run_id = context["run_id"]
        good, quarantined = validate_landed(
            gcs_hook(settings), settings, run_id, only_objects=only_objects, on_bad_lines=on_bad_lines
        )
        if context["ti"].try_number > 1:  # what earlier tries quarantined is no longer landed
            from fraud_mlops.ingestion.landed_files import quarantined_by_run
            from fraud_mlops.orchestration.run_summary import each_moved_once

            earlier = quarantined_by_run(gcs_hook(settings), settings, run_id, run_began(context))
            quarantined = each_moved_once([*quarantined, *earlier])
        context["ti"].xcom_push(key=QUARANTINED_KEY, value=quarantined)
        if quarantined:
            print(f"{len(quarantined)} file(s) QUARANTINED in gs://{settings.quarantine_bucket}:")
            for q in quarantined:
                print(f"  - {q['file']}: {q['reason']} ({q['detail']}) -> {q['moved_to']}")
        print(f"{len(good)} valid file(s) to load: {[g.uri for g in good]}")
        return [{**g.to_xcom(), "run_id": run_id} for g in good]

    return validate_landed_files(only_objects=only_objects)  # type: ignore[arg-type]  # XComArg resolved at run time


def load_raw(settings: Settings, files: XComArg) -> TaskGroup:
    """``load_raw_file[]`` → ``append_raw_file[]`` (one per good file) → ``archive_loaded_files``."""
    warehouse = targets.warehouse(settings)
    with TaskGroup(
        "load_raw", tooltip="each good file → its load table → raw_transactions; archive"
    ) as group:
        loaded = warehouse.load_file_operator(files, refused_files=QuarantineRefused(settings))
        appended = warehouse.append_file_operator(loaded, outlets=[assets.raw_transactions()])

        # its lease check reads the warehouse (DuckDB: one writer); it runs after a refused
        # file's skipped append too (not when there was no file at all)
        @task(pool=settings.warehouse_pool, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def archive_loaded_files(files: list[dict[str, Any]], **context: Any) -> list[str]:
            """Move loaded files out of the watched prefix (the sensors would fire again); a file
            overwritten since it was loaded stays, as the new file it now is, a file an earlier
            try archived is found where it went, and a file its load refused is in quarantine
            already."""
            from fraud_mlops.ingestion.landed_files import archive
            from fraud_mlops.landing_schema import LandedFile
            from fraud_mlops.storage import gcs_hook
            from fraud_mlops.warehouse.bigquery_jobs import REFUSED_KEY

            hook = gcs_hook(settings)
            since = run_began(context)
            moved = []
            for landed in (LandedFile.from_xcom(f) for f in files if REFUSED_KEY not in f):
                uri = archive(hook, settings, landed, since)
                print(
                    f"archived {landed.uri} -> {uri}"
                    if uri
                    else f"not archived {landed.uri}: no longer landed as loaded (the warning above says why)"
                )
                moved += [uri] if uri else []
            return moved

        loaded >> appended >> archive_loaded_files(loaded)  # type: ignore[arg-type]  # XComArg resolved at run time
    return group


@dataclass(frozen=True)
class QuarantineRefused:
    """What a load task does with a file its load refused (``warehouse.base.RefusedFiles``):
    validation accepted the file, the load's parser did not, so every retry and every later run
    would fail the same way and hold back the other files' rows. The file goes to quarantine
    with the load's reason (as validation's quarantines do, ``reason.json`` beside it) and is
    marked for its append to be skipped; the run summary lists it."""

    settings: Settings

    def quarantine(self, file: dict[str, Any], refused: Any, context: dict[str, Any]) -> dict[str, Any]:
        from fraud_mlops.ingestion.landed_files import quarantine
        from fraud_mlops.landing_schema import LandedFile
        from fraud_mlops.storage import gcs_hook

        landed = LandedFile.from_xcom(file)
        uri = quarantine(
            gcs_hook(self.settings), self.settings, landed.name, landed.generation,
            reason=refused.reason, detail=refused.detail, md5=landed.md5, run_id=context["run_id"],
        )  # fmt: skip
        entry = {"file": landed.name, "reason": refused.reason, "detail": refused.detail, "moved_to": uri}
        if uri is None:
            print(
                f"the load refused {landed.uri}, which was overwritten since: the new generation stays landed"
            )
            return self._refused(file, entry)
        print(f"QUARANTINED {landed.uri}: its load refused it: {refused.reason} ({refused.detail}) -> {uri}")
        return self._refused(file, entry, context)

    def quarantined_earlier(self, file: dict[str, Any], context: dict[str, Any]) -> dict[str, Any] | None:
        """On a retry only (a first try has no earlier one): the file this run's earlier try
        moved to quarantine, if it did; one Cloud Storage read when the file is still landed."""
        from fraud_mlops.ingestion.landed_files import quarantined_earlier
        from fraud_mlops.landing_schema import LandedFile
        from fraud_mlops.storage import gcs_hook

        if context["ti"].try_number <= 1:
            return None
        landed = LandedFile.from_xcom(file)
        since = run_began(context)
        entry = quarantined_earlier(gcs_hook(self.settings), self.settings, landed, context["run_id"], since)
        if entry is None:
            return None
        print(
            f"QUARANTINED {landed.uri} (by an earlier try of this task, which did not finish): its load "
            f"refused it: {entry['reason']} ({entry['detail']}) -> {entry['moved_to']}"
        )
        return self._refused(file, entry, context)

    @staticmethod
    def _refused(
        file: dict[str, Any], entry: dict[str, Any], context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The task's XCom for a refused file; with ``context``, the entry pushed for the run
        summary (a file moved to quarantine)."""
        from fraud_mlops.warehouse.bigquery_jobs import REFUSED_KEY

        if context is not None:
            context["ti"].xcom_push(key=QUARANTINED_KEY, value=entry)
        return {**file, REFUSED_KEY: entry}


def run_began(context: dict[str, Any]) -> datetime:
    """The earliest a try of this run can have moved a landed file: where a retry looks for what
    an earlier try archived or quarantined. A cleared run's ``start_date`` is the clear's, so
    its ``run_after`` (kept across clears) counts too."""
    dag_run, ti = context["dag_run"], context["ti"]
    known = [getattr(dag_run, "run_after", None), dag_run.start_date, ti.start_date]
    return min(moment for moment in known if moment is not None)


PLAN_TASK_ID = "transform.plan_increment"
#: The XCom key of the plan's bounds and of the publish its snapshot holds
#: (``sql_templates.SNAPSHOT_PUBLISH_KEY``); its return value is the branch it follows.
INCREMENT_KEY = "increment"
STAGING_TASK_ID = "transform.build_staging"
SNAPSHOT_TASK_ID = "snapshot.snapshot_training_table"


_PLAN = f"ti.xcom_pull(task_ids='{PLAN_TASK_ID}', key='{INCREMENT_KEY}')"


def _planned(name: str) -> str:
    """A bound from ``transform.plan_increment``'s XCom (Airflow renders it)."""
    return f"{{{{ {_PLAN}['{name}'] }}}}"


#: The name of the snapshot the plan takes, as a Jinja expression (a plan that takes none fails
#: the task rather than name a table ``None``).
PLANNED_SNAPSHOT = f"planned_snapshot_name(dag_run, {_PLAN})"


def planned_snapshot(ti: Any, dag_run: Any) -> str | None:
    """The snapshot the run's plan takes (``None``: it takes none, or never planned):
    :data:`PLANNED_SNAPSHOT`, read in Python."""
    from fraud_mlops.sql_templates import planned_snapshot_name

    return planned_snapshot_name(
        dag_run, ti.xcom_pull(task_ids=PLAN_TASK_ID, key=INCREMENT_KEY), required=False
    )


#: The increment's bounds, as the steps after staging take them.
INCREMENT_PARAMETERS = {name: _planned(name) for name in ("loaded_from", "event_from")}


@dataclass(frozen=True)
class Transform:
    """The ``transform`` group and its ``plan_increment`` task (the snapshot hangs off it too)."""

    group: TaskGroup
    plan: Any


def transform(settings: Settings, files: XComArg) -> Transform:
    """``plan_increment`` → ``build_staging`` → ``build_card_features`` → ``build_training_examples``.

    Incremental: only files not transformed yet, and the event dates their rows touch (the
    bounds are query parameters: BigQuery reads only those partitions). The plan follows the
    loads and ``files``' validation, so it runs when no file was left to load too (only
    quarantines, or a cleared run whose files its first try archived), not when validation
    failed or never ran (the sensor gave up). Such a run transforms only files it loaded itself
    (a run cleared after it failed before its publish), or goes to the snapshot when it
    published before (cleared after its publish); files another run loaded and left
    untransformed wait, as before, for a run that loads a file (``increment.next_step``).
    """
    warehouse = targets.warehouse(settings)
    with TaskGroup("transform", tooltip="raw → staging → card features → training examples") as group:
        # A branch with three outcomes (increment.next_step). Files to transform, that this run
        # loaded now or before a clear (cleared after it failed before its publish): the
        # transform, then (after publish) the snapshot. Nothing of this run's (only duplicate
        # landings, every file quarantined): the tasks from here to the feature sync are skipped,
        # so no snapshot is taken and no training is scheduled on data it has seen; the run
        # summary still runs (trigger rule in summarise_run). Nothing to transform, but this run
        # published before (cleared after a failed snapshot or sync): the snapshot and the sync
        # only, which nothing else would redo.
        @task.branch(pool=settings.warehouse_pool, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def plan_increment(files: list[dict[str, Any]] | None, **context: Any) -> list[str]:
            """Which files and event dates this run transforms (constants for partition pruning),
            the snapshot it takes (XCom ``increment``), and so which branch it follows
            (``increment.next_step``)."""
            from fraud_mlops.ingestion.increment import (
                SNAPSHOT_ONLY,
                TRANSFORM,
                describe,
                next_step,
                snapshot_publish,
            )
            from fraud_mlops.ingestion.increment import plan_increment as plan
            from fraud_mlops.ingestion.training_days import ensure_day_counts
            from fraud_mlops.sql_templates import SNAPSHOT_PUBLISH_KEY, planned_snapshot_name

            warehouse = targets.warehouse(settings)
            recounted = ensure_day_counts(warehouse, settings)
            if recounted:
                print(recounted)
            bounds = plan(warehouse, settings, context["run_id"])
            step = next_step(bounds, loaded_files=bool(files))
            planned = {**bounds, SNAPSHOT_PUBLISH_KEY: snapshot_publish(bounds, step)}
            snapshot = planned_snapshot_name(context["dag_run"], planned, required=False)
            context["ti"].xcom_push(key=INCREMENT_KEY, value=planned)
            print(describe(bounds, loaded_files=bool(files)) + (f"; snapshot {snapshot}" if snapshot else ""))
            return {TRANSFORM: [STAGING_TASK_ID, SNAPSHOT_TASK_ID], SNAPSHOT_ONLY: [SNAPSHOT_TASK_ID]}.get(
                step, []
            )

        params = {**INCREMENT_PARAMETERS, "run_id": "{{ run_id }}"}
        staging = warehouse.sql_operator(
            "build_staging", SQL_FILES["staging"], parameters=params,
            doc_md="Candidates: type, validate, deduplicate and pseudonymise new raw rows; the rest to rejected_rows.",
        )  # fmt: skip
        features = warehouse.sql_operator(
            "build_card_features", SQL_FILES["card_features"],
            parameters={**INCREMENT_PARAMETERS, "older_until": _planned("older_until")},
            doc_md="Candidates: point-in-time card features, latest row and serving state of the touched cards.",
        )  # fmt: skip
        training = warehouse.sql_operator("build_training_examples", SQL_FILES["training_examples"])
        planned = plan_increment(files)  # type: ignore[arg-type]  # XComArg resolved at run time
        planned >> staging >> features >> training
    return Transform(group=group, plan=planned)


def check_data_quality(settings: Settings) -> Any:
    """The ``ASSERT``s of ``50_quality_checks.sql`` on the candidates; a failure names the check.

    ``retries=0``: the checks are deterministic over the same data, so a retry would repeat
    the full scans and fail again.
    """
    check = targets.warehouse(settings).sql_operator(
        "check_data_quality", SQL_FILES["quality_checks"], parameters=INCREMENT_PARAMETERS,
        doc_md="ASSERTs on the run's candidates; a failure names the check (docs/data_quality.md).",
    )  # fmt: skip
    check.retries = 0
    return check


def publish(settings: Settings) -> Any:
    """``55_publish.sql``: the checked candidates replace the touched rows of the published
    tables, in one transaction."""
    return targets.warehouse(settings).sql_operator(
        "publish", SQL_FILES["publish"], parameters=INCREMENT_PARAMETERS,
        outlets=[assets.staging_transactions(), assets.card_features()],
        doc_md="Checked candidates → published tables, all in one transaction (write-audit-publish).",
    )  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """The ``snapshot`` group and its snapshot's name (an ``XComArg`` for the tasks after it)."""

    group: TaskGroup
    name: XComArg


def snapshot(settings: Settings, transformed: Transform) -> Snapshot:
    """``snapshot_training_table`` → ``publish_snapshot`` (the Asset event that schedules training).

    The snapshot follows ``publish`` and, as a branch of ``transformed``'s plan, the plan too: a
    run cleared after its publish (the snapshot or sync failed) skips the transform and publish
    and takes its snapshot (the same name: created once, its lineage written once) and syncs.
    """
    with TaskGroup("snapshot", tooltip="immutable, named training snapshot + lineage → Asset event") as group:
        create = targets.warehouse(settings).sql_operator(
            "snapshot_training_table", SQL_FILES["snapshot"], parameters=RUN_PARAMETERS,
            variables={"snapshot": PLANNED_SNAPSHOT},
        )  # fmt: skip
        # after publish, or the plan alone when it skipped the transform (a failed check or
        # publish still stops it: upstream_failed)
        create.trigger_rule = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
        transformed.plan >> create

        @task(outlets=[assets.training_snapshot()], pool=settings.warehouse_pool, multiple_outputs=True)
        def publish_snapshot(**context: Any) -> dict[str, Any]:
            """Emit the snapshot Asset event (its extra names the snapshot) for the training DAG."""
            from fraud_mlops.orchestration.run_summary import snapshot_lineage_row

            name = planned_snapshot(context["ti"], context["dag_run"])
            if name is None:  # the plan branches here only when it takes one
                raise RuntimeError(f"{PLAN_TASK_ID} planned no snapshot")
            lineage = snapshot_lineage_row(settings, name)
            context["outlet_events"][assets.training_snapshot()].extra = {
                "snapshot": name,
                "row_count": lineage["row_count"],
            }
            print(f"snapshot {name}: {lineage['row_count']} rows, {lineage['fraud_count']} fraud")
            return lineage

        published: Any = publish_snapshot()
        create >> published
    return Snapshot(group=group, name=published["snapshot_name"])


def summarise_run(settings: Settings, files: XComArg, feature_sync: Any) -> Any:
    """Row counts per layer, rejects by reason, quarantined files, snapshot, lineage, feature sync."""

    # Also after a run with nothing new to transform (transform to sync skipped), not after one
    # that never got its files (the sensor gave up, the resolver found none).
    @task(
        pool=settings.warehouse_pool,
        execution_timeout=timedelta(minutes=5),
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )
    def summarise_run(
        quarantined: list[dict[str, Any]] | None, feature_sync: dict[str, Any] | None, **context: Any
    ) -> dict[str, Any]:
        """What the run did, in numbers (the log line ``make demo`` prints too)."""
        from fraud_mlops.orchestration.run_summary import each_moved_once, format_summary, run_summary

        summary = run_summary(
            settings, context["dag_run"], planned_snapshot(context["ti"], context["dag_run"])
        )
        # validation's quarantines, then the files a load refused (one XCom per map index); a
        # cleared run's validation lists its earlier attempt's refusals too, which that
        # attempt's load XComs still hold: each moved file once
        refused = context["ti"].xcom_pull(task_ids=LOAD_TASK_ID, key=QUARANTINED_KEY)
        refused = [refused] if isinstance(refused, dict) else [r for r in refused or [] if r]
        summary["quarantined_files"] = each_moved_once([*(quarantined or []), *refused])
        summary["feature_sync"] = feature_sync
        print(format_summary(summary))
        return summary

    quarantined = XComArg(files.operator, key=QUARANTINED_KEY)  # type: ignore[attr-defined]
    return summarise_run(quarantined, feature_sync)  # type: ignore[arg-type]  # XComArgs resolved at run time
