"""
### Daily batch ingestion of whatever landed

The scheduled counterpart of `fraud_ingest_sensor`: once a day it processes every file under
the landing prefix with the same tasks (the same builders, not a copy), so files that landed
while the sensor DAG was paused are not forgotten. Loads are idempotent by file content and the
transform takes each loaded file once. While another ingestion DAG's run or an erasure is in
flight, this one waits at `acquire_transform_lease` (one run holds the transform lease from its
file listing to its online-store sync; docs/ingestion.md). A run with nothing new to transform
stops after `transform.plan_increment`: no snapshot, no retraining. A run cleared after its
`publish` (its snapshot or sync failed) skips the transform and takes its snapshot and syncs.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, chain

from fraud_mlops.orchestration import ingestion
from fraud_mlops.orchestration.defaults import dag_defaults
from fraud_mlops.orchestration.feature_sync import feature_sync
from fraud_mlops.orchestration.lease import acquire_transform_lease, release_transform_lease
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="fraud_ingest_daily",
    description="Daily: landed files → raw → staging → features → checks → snapshot",
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_defaults(settings, "ingestion"),
):
    files = ingestion.validate_landed_files(settings)
    transformed = ingestion.transform(settings, files)
    snapshotted = ingestion.snapshot(settings, transformed)
    synced = feature_sync(settings, snapshotted.name)

    lease = acquire_transform_lease(settings)
    chain(ingestion.setup_tables(settings), lease, files)
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
