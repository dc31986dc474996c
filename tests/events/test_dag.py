"""The event-driven DAG as Airflow loads it: scheduled on the watched asset, one object per notification."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk.api.datamodels._generated import AssetReferenceAssetEventDagRun
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

from fraud_mlops.events.notification import object_finalize_message
from fraud_mlops.settings import REPO_ROOT, get_settings

DAG_FILE = REPO_ROOT / "dags" / "fraud_ingest_events.py"


@pytest.fixture(scope="module")
def dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["fraud_ingest_events"]


def asset_event(
    name: str, event_type: str = "OBJECT_FINALIZE", timestamp: datetime | None = None
) -> AssetEventDagRunReferenceResult:
    """An asset event as a run's context hands it over, carrying one pulled notification."""
    settings = get_settings()
    data, attributes = object_finalize_message(
        {"bucket": settings.landing_bucket, "name": name, "generation": "7"}
    )
    attributes["eventType"] = event_type
    received = {"ack_id": "a", "message": {"data": base64.b64encode(data).decode(), "attributes": attributes,
                                           "message_id": "1", "publish_time": "2026-11-22T00:00:00Z"}}  # fmt: skip
    extra = {"from_trigger": True, "payload": {"status": "success", "message": [received]}}
    return AssetEventDagRunReferenceResult(
        asset=AssetReferenceAssetEventDagRun(
            name="fraud_landed_files", uri="gs://fraud-landing/incoming", extra={}
        ),
        extra=json.loads(json.dumps(extra)),
        source_task_id=None,
        source_dag_id=None,
        source_run_id=None,
        source_map_index=None,
        source_aliases=[],
        timestamp=timestamp or datetime.now(UTC),
    )


class AssetEventsAfter:
    """The part of an inlet-events accessor the resolver uses: the asset's events after a time."""

    def __init__(self, events: list[AssetEventDagRunReferenceResult]) -> None:
        self.events = events
        self.asked_after: list[str] = []

    def after(self, after: str) -> list[AssetEventDagRunReferenceResult]:
        self.asked_after.append(after)
        return [e for e in self.events if e.timestamp > datetime.fromisoformat(after)]


RUN_AFTER = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def resolve(dag: Any, *events: AssetEventDagRunReferenceResult, later: AssetEventsAfter | None = None) -> Any:
    task = dag.get_task("resolve_landed_objects")
    (inlet,) = task.inlets
    return task.python_callable(
        triggering_asset_events=TriggeringAssetEventsAccessor.build(events),
        inlet_events={inlet: later or AssetEventsAfter([])},
        dag_run=type("DagRun", (), {"run_after": RUN_AFTER})(),
    )


def test_scheduled_on_the_landed_files_asset_and_its_pubsub_watcher(dag):
    (asset,) = dag.timetable.asset_condition.objects
    assert asset.name == "fraud_landed_files"
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert (
        classpath == "airflow.providers.google.cloud.triggers.pubsub.PubsubPullTrigger"
        and kwargs["subscription"] == "fraud-landing-airflow"
    )


def test_the_resolver_gates_the_ingestion_and_the_summary(dag):
    resolver = dag.get_task("resolve_landed_objects")
    from airflow.providers.standard.operators.python import ShortCircuitOperator

    assert isinstance(resolver, ShortCircuitOperator)
    assert resolver.downstream_task_ids == {"validate_landed_files"}
    # table setup and the lease's claim run beside it, and gate the validation too
    assert not {"setup_tables", "acquire_transform_lease"} & resolver.get_flat_relative_ids(upstream=False)
    assert dag.get_task("validate_landed_files").upstream_task_ids == {
        "resolve_landed_objects",
        "acquire_transform_lease",
    }
    assert dag.get_task("acquire_transform_lease").upstream_task_ids == {"setup_tables"}
    assert "summarise_run" in resolver.get_flat_relative_ids(upstream=False)
    assert dag.max_active_runs == 1


def test_one_notification_resolves_to_exactly_that_object(dag):
    plan = resolve(dag, asset_event("incoming/day1.csv"))
    assert plan["objects"] == ["incoming/day1.csv"] and plan["notifications"] == 1


def test_a_run_without_a_new_landed_file_short_circuits(dag):
    assert (
        resolve(dag, asset_event("incoming/day1.csv", "OBJECT_DELETE"), asset_event("processed/x.csv"))
        is None
    )


def test_folded_notifications_resolve_to_each_notified_object(dag):
    plan = resolve(
        dag, asset_event("incoming/a.csv"), asset_event("incoming/b.csv"), asset_event("incoming/a.csv")
    )
    assert plan["objects"] == ["incoming/a.csv", "incoming/b.csv"] and plan["notifications"] == 3


def test_notifications_left_out_of_the_run_window_are_taken_over(dag):
    """apache/airflow#56050: of the notifications that wait while a run is busy, the next run's
    window holds only the first; the resolver reads the asset's later events through its inlet."""
    waiting = asset_event("incoming/b.csv", timestamp=RUN_AFTER)
    later = AssetEventsAfter([
        waiting,
        asset_event("incoming/c.csv", timestamp=RUN_AFTER + timedelta(seconds=2)),
        asset_event("processed/x.csv", timestamp=RUN_AFTER + timedelta(seconds=3)),
    ])  # fmt: skip
    plan = resolve(dag, waiting, later=later)
    assert later.asked_after == [RUN_AFTER.isoformat()]
    assert (plan["objects"], plan["left_behind"], plan["notifications"]) == (
        ["incoming/b.csv", "incoming/c.csv"], ["incoming/c.csv"], 1,
    )  # fmt: skip


def test_the_resolver_reads_the_watched_asset_as_its_inlet(dag):
    (inlet,) = dag.get_task("resolve_landed_objects").inlets
    (scheduled,) = dag.timetable.asset_condition.objects
    assert (inlet.name, inlet.uri) == (scheduled.name, scheduled.uri)


def test_validation_is_restricted_to_the_resolved_objects(dag):
    resolver = dag.get_task("resolve_landed_objects")
    validate = dag.get_task("validate_landed_files")
    assert resolver.multiple_outputs  # each plan key is its own XCom, "objects" among them
    pulled: list[dict[str, Any]] = []

    class RunningTask:  # what an XComArg reads from the running task instance
        @staticmethod
        def xcom_pull(**kwargs: Any) -> list[str]:
            pulled.append(kwargs)
            return ["incoming/a.csv", "incoming/b.csv"]

    rendered = validate.render_template(
        validate.op_kwargs, {"ti": RunningTask()}, jinja_env=dag.get_template_env()
    )
    assert rendered == {"only_objects": ["incoming/a.csv", "incoming/b.csv"]}
    assert [(p["task_ids"], p["key"]) for p in pulled] == [("resolve_landed_objects", "objects")]
