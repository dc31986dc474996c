"""The event-driven DAG as Airflow loads it: scheduled on the watched asset, one object per notification."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
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


def asset_event(name: str, event_type: str = "OBJECT_FINALIZE") -> AssetEventDagRunReferenceResult:
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
        timestamp=datetime.now(UTC),
    )


def resolve(dag: Any, *events: AssetEventDagRunReferenceResult) -> Any:
    task = dag.get_task("resolve_landed_objects")
    return task.python_callable(triggering_asset_events=TriggeringAssetEventsAccessor.build(events))


def test_scheduled_on_the_landed_files_asset_and_its_pubsub_watcher(dag):
    (asset,) = dag.timetable.asset_condition.objects
    assert asset.name == "fraud_landed_files"
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath.endswith("PubsubPullTrigger") and kwargs["subscription"] == "fraud-landing-airflow"


def test_the_resolver_gates_the_ingestion_and_the_summary(dag):
    resolver = dag.get_task("resolve_landed_objects")
    from airflow.providers.standard.operators.python import ShortCircuitOperator

    assert isinstance(resolver, ShortCircuitOperator)
    assert resolver.downstream_task_ids == {"ingest.validate_landed_files"}
    assert "ingest.setup_tables" not in resolver.get_flat_relative_ids(upstream=False)  # runs beside it
    assert "ingest.setup_tables" in dag.get_task("ingest.validate_landed_files").upstream_task_ids
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


def test_validation_is_restricted_to_the_resolved_objects(dag):
    resolver = dag.get_task("resolve_landed_objects")
    validate = dag.get_task("ingest.validate_landed_files")
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
