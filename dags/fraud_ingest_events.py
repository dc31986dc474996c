"""
### Ingest each landed file as its Cloud Storage notification arrives (Pub/Sub AssetWatcher)

The landing bucket publishes an `OBJECT_FINALIZE` notification to Pub/Sub for every file under
the landing prefix. An Airflow 3 `AssetWatcher` (the Google provider's `PubsubPullTrigger`, a
class Composer 3's triggerer can import: it syncs no plugins) pulls the landing subscription
in the triggerer (every `MLOPS_WATCHER_POLL_SECONDS`, 1 s by default, while it is empty); each notification becomes an asset event on
`fraud_landed_files`, and each asset event starts a run that ingests exactly the notified
object: raw → staging → features → checks → snapshot, the same tasks as the sensor DAG,
including the online feature sync.

* **At-least-once delivery**: a duplicate notification starts a run that finds the object
  already archived (or its content already loaded) and adds no rows; with nothing new to
  transform it takes no snapshot, so training is not scheduled again. A run cleared after its
  `publish` (its snapshot or sync failed) skips the transform and takes its snapshot and syncs.
* **Folded events**: notifications that arrive while a run is busy are ingested by the next
  run, exactly the objects they name (the resolver also picks up the ones Airflow 3.3 leaves
  out of that run's window, apache/airflow#56050).
* Locally the GCS emulator sends no notifications: the landing command publishes the same
  message to the Pub/Sub emulator. On gcp the bucket's notification config does
  (`infra/modules/pubsub`), in containers fake-gcs-server. See `docs/event_driven.md`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, chain

from fraud_mlops.events.watcher import landed_files_asset
from fraud_mlops.orchestration import ingestion
from fraud_mlops.orchestration.defaults import dag_defaults
from fraud_mlops.orchestration.events import resolve_landed_objects
from fraud_mlops.orchestration.feature_sync import feature_sync
from fraud_mlops.orchestration.lease import acquire_transform_lease, release_transform_lease
from fraud_mlops.settings import get_settings

settings = get_settings()
landed_files = landed_files_asset(settings)

with DAG(
    dag_id="fraud_ingest_events",
    description="One run per landed file, started by its Cloud Storage notification (Pub/Sub)",
    schedule=[landed_files],
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_defaults(settings, "ingestion", "pubsub"),
):
    plan: Any = resolve_landed_objects(settings, landed_files)
    # The resolved names feed (and so gate) the files' validation; table setup does not need
    # them and runs beside the resolver, one task hop off the landing-to-load path.
    files = ingestion.validate_landed_files(settings, only_objects=plan["objects"])
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
