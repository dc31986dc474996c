"""The event-driven DAG's first task: which landed objects the triggering notifications name.

Its ``objects`` output feeds (and so gates) ``validate_landed_files``; table setup does not
need it and runs beside it, which keeps one task hop off the landing-to-load path.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, task

from fraud_mlops.settings import Settings


def resolve_landed_objects(settings: Settings, landed_files: Asset) -> Any:
    """The resolver task (``multiple_outputs``: ``["objects"]`` is the list to ingest).

    It short-circuits (skips the run) when no notification names a new file under the landing
    prefix, e.g. a delete or an archive copy.
    """

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

    return resolve_landed_objects()
