"""
### Ingest landed transaction files as they arrive (deferrable GCS sensor)

A continuous DAG: each run waits — deferred in the triggerer, costing no worker slot — until
files appear under the landing prefix, then loads every landed file into the raw table,
rebuilds staging, card features and training examples with SQL, checks data quality,
snapshots the training table and syncs the online feature store. The snapshot emits the
`fraud_training_snapshot` Asset that schedules training.

* **Bad files** go to the quarantine bucket with a `.reason.json` beside them; good files in
  the same run still load.
* **Idempotent**: a file's identity is its content hash; landing it again adds no rows, and a
  run with nothing new to transform stops after `transform.plan_increment` (no snapshot, no
  retraining; the run summary still runs). A run cleared after its `publish` (its snapshot or
  sync failed) skips the transform and takes its snapshot and syncs again. Clear such a run
  from `acquire_transform_lease`: the whole run would wait at `wait_for_landed_files` for a new
  file (its own are archived).
* Target (`MLOPS_TARGET`): `local` runs on the GCS emulator + DuckDB, `gcp` on Cloud Storage +
  BigQuery with the provider's BigQuery operators. Same SQL (`include/sql/`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.google.cloud.sensors.gcs import GCSObjectsWithPrefixExistenceSensor
from airflow.sdk import DAG, chain

from fraud_mlops.orchestration import ingestion
from fraud_mlops.orchestration.defaults import dag_defaults
from fraud_mlops.orchestration.feature_sync import feature_sync
from fraud_mlops.orchestration.lease import acquire_transform_lease, release_transform_lease
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="fraud_ingest_sensor",
    description="Landed files → raw → staging → features → checks → snapshot, as files arrive",
    schedule="@continuous",
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_defaults(settings, "ingestion"),
):
    wait_for_landed_files = GCSObjectsWithPrefixExistenceSensor(
        task_id="wait_for_landed_files",
        bucket=settings.landing_bucket,
        prefix=settings.landing_prefix,
        google_cloud_conn_id=settings.gcp_conn_id,
        deferrable=True,
        poke_interval=settings.sensor_poke_seconds,
        timeout=timedelta(hours=6).total_seconds(),
        soft_fail=True,  # nothing landed for 6 h: skip this run, the next one starts waiting
    )
    files = ingestion.validate_landed_files(settings)
    transformed = ingestion.transform(settings, files)
    snapshotted = ingestion.snapshot(settings, transformed)
    synced = feature_sync(settings, snapshotted.name)

    lease = acquire_transform_lease(settings)
    chain(wait_for_landed_files, ingestion.setup_tables(settings), lease, files)
    chain(
        ingestion.load_raw(settings, files),
        transformed.group,
        ingestion.check_data_quality(settings),
        ingestion.publish(settings),
        snapshotted.group,
        synced.group,
        ingestion.summarise_run(settings, files, synced.record),
    )
    # every task from the file listing to the online-store sync holds the lease
    synced.group >> release_transform_lease(settings, lease)
