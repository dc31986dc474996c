"""
### Ingest each landed file as its Cloud Storage notification arrives (Pub/Sub AssetWatcher)

The landing bucket publishes an `OBJECT_FINALIZE` notification to Pub/Sub for every file under
the landing prefix. An Airflow 3 `AssetWatcher` (`MessageQueueTrigger`, scheme
`google+pubsub`) pulls the landing subscription in the triggerer; each notification becomes an
asset event on `fraud_landed_files`, and each asset event starts a run that ingests exactly the
notified object: raw → staging → features → checks → snapshot, the same tasks as the sensor DAG,
including the online feature sync.

* **At-least-once delivery**: a duplicate notification starts a run that finds the object
  already archived (or its content already loaded) and adds no rows.
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

from airflow.sdk import DAG, task

from fraud_mlops.events.watcher import landed_files_asset
from fraud_mlops.orchestration.ingestion import build_ingestion_flow, dag_kwargs
from fraud_mlops.settings import get_settings

settings = get_settings()
landed_files = landed_files_asset(settings)
kwargs = dag_kwargs(settings)
kwargs["tags"] = [*kwargs["tags"], "pubsub"]

with DAG(
    dag_id="fraud_ingest_events",
    description="One run per landed file, started by its Cloud Storage notification (Pub/Sub)",
    schedule=[landed_files],
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **kwargs,
):

    @task.short_circuit(multiple_outputs=True, inlets=[landed_files])
    def resolve_landed_objects(**context: Any) -> dict[str, Any] | None:
        """Read the notifications behind this run; skip the run when none is a new landed file."""
        from fraud_mlops.events.notification import ingestion_plan

        events = context["triggering_asset_events"]
        extras = [event.extra for asset in events for event in events[asset]]
        # Notifications stamped after this run's run_after, which Airflow may start no run for
        # (apache/airflow#56050): the inlet lets the task read the asset's events.
        later = context["inlet_events"][landed_files].after(context["dag_run"].run_after.isoformat())
        plan = ingestion_plan(
            extras, settings.landing_bucket, settings.landing_prefix, [event.extra for event in later]
        )
        print(f"{plan['notifications']} notification(s); objects to ingest: {plan['objects']}")
        if plan["left_behind"]:
            print(f"  of which notified after this run was queued: {plan['left_behind']}")
        for ignored in plan["ignored"]:
            print(
                f"  ignored (not a new file under gs://{settings.landing_bucket}/{settings.landing_prefix}): {ignored}"
            )
        return plan if plan["objects"] else None

    plan: Any = resolve_landed_objects()  # PlainXComArg; plan["objects"] pulls its "objects" XCom
    # The resolved object names feed (and so gate) the files' validation and everything after
    # it; table setup does not need them and runs beside the resolver, which keeps one task hop
    # off the landing-to-load path.
    build_ingestion_flow(settings, only_objects=plan["objects"])
