"""The gcp sync path: the provider's operators, with Vertex's admin client mocked at its boundary
answering with the real message types (aiplatform_v1beta1, as the provider's hook uses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from airflow.providers.google.cloud.sensors.vertex_ai.feature_store import FeatureViewSyncSensor
from airflow.sdk import DAG
from google.api_core import exceptions
from google.cloud import aiplatform_v1beta1 as v1beta1
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc.status_pb2 import Status
from google.type.interval_pb2 import Interval

from fraud_mlops.settings import Settings

FEATURE_VIEW = (
    "projects/fraud-prj/locations/europe-west4/featureOnlineStores/fraud_online_store"
    "/featureViews/card_features"
)
SYNC_NAME = f"{FEATURE_VIEW}/featureViewSyncs/5017"


@pytest.fixture
def admin_client(gcp_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[mock.MagicMock]:
    """Patch the Vertex admin client class; the hook builds it with anonymous credentials."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}}),
    )
    with mock.patch("google.cloud.aiplatform_v1beta1.FeatureOnlineStoreAdminServiceClient") as cls:
        yield cls


def _finished_sync(row_synced: int, status: Status | None = None) -> v1beta1.FeatureViewSync:
    """Vertex's answer for a finished sync: the real message type the admin client returns."""
    return v1beta1.FeatureViewSync(
        name=SYNC_NAME,
        run_time=Interval(
            start_time=Timestamp(seconds=1_740_787_200), end_time=Timestamp(seconds=1_740_787_290)
        ),
        final_status=status or Status(code=0),
        sync_summary=v1beta1.FeatureViewSync.SyncSummary(row_synced=row_synced, total_slot=3),
    )


def _running_sync() -> v1beta1.FeatureViewSync:
    return v1beta1.FeatureViewSync(
        name=SYNC_NAME, run_time=Interval(start_time=Timestamp(seconds=1_740_787_200))
    )


def _build(snapshot: str = "{{ params.snapshot }}") -> tuple[DAG, Any, Any]:
    from fraud_mlops import targets
    from fraud_mlops.settings import get_settings

    with DAG("fraud_ingestion_test", schedule=None) as dag:
        first, last = targets.feature_store(get_settings()).sync_operators(snapshot)
    return dag, first, last


def test_gcp_builds_sync_then_rescheduling_sensor_then_record(gcp_settings: Settings) -> None:
    dag, first, last = _build()
    assert [t.task_id for t in dag.topological_sort()] == [
        "sync_feature_view",
        "wait_for_feature_view_sync",
        "record_feature_sync",
    ]
    assert first.task_id == "sync_feature_view"
    assert last.task_id == "record_feature_sync"
    sync: Any = dag.get_task("sync_feature_view")
    sensor: Any = dag.get_task("wait_for_feature_view_sync")
    assert type(sync).__name__ == "SyncFeatureViewOperator"
    assert (sync.project_id, sync.location) == ("fraud-prj", "europe-west4")
    assert (sync.feature_online_store_id, sync.feature_view_id) == ("fraud_online_store", "card_features")
    assert type(sensor).__name__ == "FeatureViewSyncDoneSensor"
    assert isinstance(sensor, FeatureViewSyncSensor)  # the provider's operator, its fields and UI
    assert sensor.mode == "reschedule"
    # The sync's resource name, pulled from the operator's XCom whatever group the tasks sit in.
    assert sensor.feature_view_sync_name.operator is sync
    assert sensor.feature_view_sync_name.key == "return_value"
    assert [a.name for a in last.outlets] == ["fraud_online_features"]
    assert last.outlets[0].uri == "vertexai://fraud-prj/featureviews/card_features"


def test_local_builds_one_task_in_the_warehouse_pool(local_settings: Settings) -> None:
    dag, first, last = _build()
    assert first is last
    assert [t.task_id for t in dag.tasks] == ["sync_online_features"]
    assert first.pool == "warehouse"
    assert [a.name for a in first.outlets] == ["fraud_online_features"]


def test_sync_operator_sends_the_exact_sync_request(admin_client: mock.MagicMock) -> None:
    admin_client.return_value.sync_feature_view.return_value = v1beta1.SyncFeatureViewResponse(
        feature_view_sync=SYNC_NAME
    )
    dag, _, _ = _build()

    sync: Any = dag.get_task("sync_feature_view")
    returned = sync.execute(context={})

    assert returned == SYNC_NAME
    admin_client.return_value.sync_feature_view.assert_called_once_with(feature_view=FEATURE_VIEW)
    options = admin_client.call_args.kwargs["client_options"]
    assert options.api_endpoint == "europe-west4-aiplatform.googleapis.com:443"


def test_sensor_waits_until_vertex_reports_an_end_time(admin_client: mock.MagicMock) -> None:
    admin_client.return_value.get_feature_view_sync.side_effect = [_running_sync(), _finished_sync(42)]
    dag, _, _ = _build()
    sensor: Any = dag.get_task("wait_for_feature_view_sync")
    sensor.feature_view_sync_name = SYNC_NAME  # what the template renders to

    assert sensor.poke(context={}) is False
    assert sensor.poke(context={}) is True
    assert admin_client.return_value.get_feature_view_sync.call_args_list == [
        mock.call(name=SYNC_NAME),
        mock.call(name=SYNC_NAME),
    ]


@pytest.mark.parametrize(
    "refusal",
    [
        exceptions.PermissionDenied("Permission 'aiplatform.featureViewSyncs.get' denied"),
        exceptions.NotFound("FeatureViewSync not found"),
        exceptions.InvalidArgument("Invalid resource name"),
        exceptions.Unauthenticated("Request had invalid authentication credentials"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_sensor_fails_at_once_when_vertex_refuses_to_report_the_sync(
    admin_client: mock.MagicMock, refusal: Exception
) -> None:
    """The provider's sensor waited such answers out for the whole timeout (three hours)."""
    admin_client.return_value.get_feature_view_sync.side_effect = refusal
    dag, _, _ = _build()
    sensor: Any = dag.get_task("wait_for_feature_view_sync")
    sensor.feature_view_sync_name = SYNC_NAME

    with pytest.raises(type(refusal)):
        sensor.poke(context={})
    admin_client.return_value.get_feature_view_sync.assert_called_once_with(name=SYNC_NAME)


def test_sensor_waits_out_errors_a_later_poke_may_not_get(admin_client: mock.MagicMock) -> None:
    admin_client.return_value.get_feature_view_sync.side_effect = [
        exceptions.ServiceUnavailable("The service is currently unavailable"),
        exceptions.ResourceExhausted("Quota exceeded"),
        exceptions.DeadlineExceeded("Deadline exceeded"),
        _running_sync(),
        _finished_sync(42),
    ]
    dag, _, _ = _build()
    sensor: Any = dag.get_task("wait_for_feature_view_sync")
    sensor.feature_view_sync_name = SYNC_NAME

    assert [sensor.poke(context={}) for _ in range(5)] == [False, False, False, False, True]
    assert admin_client.return_value.get_feature_view_sync.call_args_list == [mock.call(name=SYNC_NAME)] * 5


def test_record_task_returns_the_sync_record(admin_client: mock.MagicMock) -> None:
    from fraud_mlops.feature_store.vertex import record_feature_sync

    admin_client.return_value.get_feature_view_sync.return_value = _finished_sync(1234)
    events: dict = {}

    class Events(dict):
        def __getitem__(self, asset: object) -> SimpleNamespace:
            return events.setdefault(asset.name, SimpleNamespace(extra=None))  # type: ignore[attr-defined]

    record = record_feature_sync(
        SYNC_NAME, "training_snapshot_20250301T000000_0a1b2c3d", outlet_events=Events()
    )

    admin_client.return_value.get_feature_view_sync.assert_called_once_with(name=SYNC_NAME)
    assert record["sync_id"] == "5017"
    assert record["row_count"] == 1234
    assert record["source_snapshot"] == "training_snapshot_20250301T000000_0a1b2c3d"
    assert record["source"] == "bq://fraud-prj.fraud.latest_card_features"
    assert record["synced_at"] == "2025-03-01T00:01:30+00:00"
    assert events["fraud_online_features"].extra == record


def test_a_sync_vertex_failed_fails_the_record_task_and_announces_nothing(
    admin_client: mock.MagicMock,
) -> None:
    """A failed sync has an end time too, so the provider's sensor lets it through; its
    ``final_status`` (``google.rpc.Status``) says it failed, and the store kept its old rows."""
    from airflow.sdk.exceptions import AirflowFailException

    from fraud_mlops.feature_store.vertex import record_feature_sync

    failed = Status(code=13, message="BigQuery read failed: Access Denied")
    admin_client.return_value.get_feature_view_sync.return_value = _finished_sync(0, failed)
    dag, _, _ = _build()
    sensor: Any = dag.get_task("wait_for_feature_view_sync")
    sensor.feature_view_sync_name = SYNC_NAME
    assert sensor.poke(context={}) is True  # the provider's sensor: the end time alone
    events: dict = {}

    with pytest.raises(AirflowFailException, match="failed: code 13: BigQuery read failed: Access Denied"):
        record_feature_sync(SYNC_NAME, "training_snapshot_x", outlet_events=events)
    assert events == {}

    # a sync that failed before it ran may carry its final status and no end time: not a three
    # hours' wait (the provider's sensor stops on the end time alone)
    admin_client.return_value.get_feature_view_sync.return_value = v1beta1.FeatureViewSync(
        name=SYNC_NAME,
        final_status=Status(code=5, message="Not found: Table fraud-prj:fraud.latest_card_features"),
    )
    assert sensor.poke(context={}) is True
    with pytest.raises(AirflowFailException, match="failed: code 5: Not found: Table"):
        record_feature_sync(SYNC_NAME, "training_snapshot_x", outlet_events=events)
    assert events == {}
