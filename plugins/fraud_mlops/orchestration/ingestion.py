"""The ingestion flow shared by the sensor, scheduled and event-driven DAGs.

    setup_tables → validate_landed_files → load_raw_file[] → append_raw_file[] → archive_loaded_files
      → build_staging → build_card_features → build_training_examples → check_data_quality
      → snapshot_training_table → publish_snapshot → (feature sync) → summarise_run

``validate_landed_files`` quarantines bad files and hands the good ones to per-file mapped
tasks (one Airflow task instance per file: the UI shows each file's load). Everything after the
raw append is a full refresh from raw, so any rerun is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import TaskGroup, XComArg, task

from fraud_mlops import assets
from fraud_mlops.orchestration.sql_tasks import sql_task
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "fraud-mlops",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
}

RUN_PARAMETERS = {"dag_id": "{{ dag.dag_id }}", "run_id": "{{ run_id }}"}


def dag_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every ingestion DAG shares (templating, macros, defaults)."""
    from fraud_mlops.paths import sql_dir
    from fraud_mlops.sql_templates import airflow_macros

    return {
        "default_args": DEFAULT_ARGS,
        "template_searchpath": [str(sql_dir())],
        "user_defined_macros": airflow_macros(settings),
        "max_active_runs": 1,
        "catchup": False,
        "tags": ["fraud", "ingestion", settings.target],
    }


def build_ingestion(
    settings: Settings, group_id: str = "ingest", only_objects: Sequence[str] | XComArg | None = None
) -> TaskGroup:
    """Create the ingestion tasks in the current DAG, inside one TaskGroup.

    ``only_objects`` (a list of landed object names, or an ``XComArg`` that resolves to one at
    run time, e.g. the objects named by the triggering notifications) restricts the run to
    those objects; by default (``None``) every object under the landing prefix is processed.
    """
    with TaskGroup(group_id=group_id, tooltip="landed files → raw → staging → features → snapshot") as group:
        setup = sql_task(
            "setup_tables", SQL_FILES["setup"], settings, doc_md="Create dataset and tables if missing."
        )

        @task(pool=settings.warehouse_pool if settings.is_local else "default_pool")
        def validate_landed_files(
            only_objects: list[str] | None = None, **context: Any
        ) -> list[dict[str, Any]]:
            """Check each landed file; quarantine bad ones with a reason; return the good ones."""
            from airflow.providers.google.cloud.hooks.gcs import GCSHook

            from fraud_mlops.ingestion.landed_files import validate_landed

            run_id = context["run_id"]
            hook = GCSHook(gcp_conn_id=settings.gcp_conn_id)
            good, quarantined = validate_landed(hook, settings, run_id, only_objects=only_objects)
            context["ti"].xcom_push(key="quarantined", value=quarantined)
            if quarantined:
                print(f"{len(quarantined)} file(s) QUARANTINED in gs://{settings.quarantine_bucket}:")
                for q in quarantined:
                    print(f"  - {q['file']}: {q['reason']} ({q['detail']}) -> {q['moved_to']}")
            print(f"{len(good)} valid file(s) to load: {[g.uri for g in good]}")
            return [{**g.to_xcom(), "run_id": run_id} for g in good]

        files = validate_landed_files(only_objects=only_objects)  # type: ignore[arg-type]  # XComArg resolved at run time

        if settings.is_local:

            @task(pool=settings.warehouse_pool, map_index_template="{{ file['name'] }}")
            def load_raw_file(file: dict[str, Any]) -> int:
                """Local twin of the BigQuery load job: CSV from the GCS emulator into DuckDB."""
                from fraud_mlops.ingestion.local_load import load_into_warehouse

                rows = load_into_warehouse(file, settings)
                print(f"loaded {rows} rows of {file['uri']} into {settings.dataset}.{file['load_table']}")
                return rows

            from fraud_mlops.ingestion.bigquery_jobs import append_raw_local_kwargs
            from fraud_mlops.warehouse.operators import BigQuerySQLOnDuckDBOperator

            loaded: Any = load_raw_file.expand(file=files)
            appended: Any = BigQuerySQLOnDuckDBOperator.partial(
                task_id="append_raw_file",
                conn_id=settings.warehouse_conn_id,
                pool=settings.warehouse_pool,
                outlets=[assets.raw_transactions()],
                do_xcom_push=False,
            ).expand_kwargs(files.map(append_raw_local_kwargs))
        else:
            from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

            from fraud_mlops.ingestion.bigquery_jobs import (
                append_raw_job_configuration,
                load_job_configuration,
            )

            common = {
                "project_id": settings.project,
                "location": settings.bq_location,
                "gcp_conn_id": settings.gcp_conn_id,
            }
            loaded = BigQueryInsertJobOperator.partial(task_id="load_raw_file", **common).expand(
                configuration=files.map(load_job_configuration)
            )
            appended = BigQueryInsertJobOperator.partial(
                task_id="append_raw_file", outlets=[assets.raw_transactions()], **common
            ).expand(configuration=files.map(append_raw_job_configuration))

        @task
        def archive_loaded_files(files: list[dict[str, Any]]) -> list[str]:
            """Move loaded files out of the watched prefix (the sensors would fire again)."""
            from airflow.providers.google.cloud.hooks.gcs import GCSHook

            from fraud_mlops.ingestion.landed_files import LandedFile, archive

            hook = GCSHook(gcp_conn_id=settings.gcp_conn_id)
            moved = [archive(hook, settings, LandedFile.from_xcom(f)) for f in files]
            for uri in moved:
                print(f"archived -> {uri}")
            return moved

        archived = archive_loaded_files(files)  # type: ignore[arg-type]  # XComArg resolved at run time

        staging = sql_task(
            "build_staging", SQL_FILES["staging"], settings, outlets=[assets.staging_transactions()],
            doc_md="Type, validate, deduplicate and pseudonymise raw rows; the rest go to rejected_rows.",
        )  # fmt: skip
        card_features = sql_task(
            "build_card_features", SQL_FILES["card_features"], settings, outlets=[assets.card_features()],
            doc_md="Point-in-time card features and the latest-features view (the feature view's source).",
        )  # fmt: skip
        training = sql_task("build_training_examples", SQL_FILES["training_examples"], settings)
        quality = sql_task(
            "check_data_quality", SQL_FILES["quality_checks"], settings,
            doc_md="ASSERTs; a failure names the check (docs/data_quality.md).",
        )  # fmt: skip
        snapshot = sql_task(
            "snapshot_training_table", SQL_FILES["snapshot"], settings, parameters=RUN_PARAMETERS
        )

        @task(
            outlets=[assets.training_snapshot()],
            pool=settings.warehouse_pool if settings.is_local else "default_pool",
        )
        def publish_snapshot(**context: Any) -> dict[str, Any]:
            """Emit the snapshot Asset event (its extra names the snapshot) for the training DAG."""
            from fraud_mlops.orchestration.run_summary import snapshot_lineage_row
            from fraud_mlops.sql_templates import snapshot_name

            name = snapshot_name(context["dag_run"])
            lineage = snapshot_lineage_row(settings, name)
            context["outlet_events"][assets.training_snapshot()].extra = {
                "snapshot": name,
                "row_count": lineage["row_count"],
            }
            print(f"snapshot {name}: {lineage['row_count']} rows, {lineage['fraud_count']} fraud")
            return lineage

        published = publish_snapshot()

        setup >> files
        (
            loaded
            >> appended
            >> archived
            >> staging
            >> card_features
            >> training
            >> quality
            >> snapshot
            >> published
        )
    return group


SNAPSHOT_NAME_TEMPLATE = "{{ ti.xcom_pull(task_ids='ingest.publish_snapshot')['snapshot_name'] }}"


def build_ingestion_flow(
    settings: Settings, only_objects: Sequence[str] | XComArg | None = None
) -> tuple[Any, Any]:
    """Ingestion group → online feature sync → run summary; returns ``(first, last)``."""
    from fraud_mlops.feature_store.tasks import build_feature_sync

    group = build_ingestion(settings, only_objects=only_objects)
    sync_first, sync_last = build_feature_sync(SNAPSHOT_NAME_TEMPLATE)
    summary = build_summary(settings, feature_sync_task_id=sync_last.task_id)
    group >> sync_first
    sync_last >> summary
    return group, summary


def build_summary(
    settings: Settings, group_id: str = "ingest", feature_sync_task_id: str | None = None
) -> Any:
    @task(
        pool=settings.warehouse_pool if settings.is_local else "default_pool",
        execution_timeout=timedelta(minutes=5),
    )
    def summarise_run(**context: Any) -> dict[str, Any]:
        """Row counts per layer, rejects by reason, quarantined files, snapshot and lineage."""
        from fraud_mlops.orchestration.run_summary import format_summary, run_summary

        summary = run_summary(settings, context["dag_run"])
        quarantined = context["ti"].xcom_pull(task_ids=f"{group_id}.validate_landed_files", key="quarantined")
        summary["quarantined_files"] = quarantined or []
        if feature_sync_task_id:
            summary["feature_sync"] = context["ti"].xcom_pull(task_ids=feature_sync_task_id)
        print(format_summary(summary))
        return summary

    return summarise_run()
