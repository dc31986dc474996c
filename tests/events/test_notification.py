"""The Cloud Storage notification: the message local landing publishes, and what a run reads from it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from google.pubsub_v1.types import PubsubMessage, ReceivedMessage

from fraud_mlops.events.notification import (
    CUSTOM_ATTRIBUTES,
    OBJECT_FINALIZE,
    PAYLOAD_FORMAT,
    LandingNotification,
    from_asset_event_extras,
    from_received_message,
    ingestion_plan,
    object_finalize_message,
    objects_to_ingest,
)
from tests.infra import iac

BUCKET, PREFIX = "fraud-landing", "incoming/"

# What gcp-storage-emulator returned for an upload (blob._properties), trimmed of nothing.
RESOURCE = {
    "kind": "storage#object",
    "id": "fraud-landing/incoming/day1.csv/1795318996277167733",
    "selfLink": "/storage/v1/b/fraud-landing/o/incoming/day1.csv",
    "name": "incoming/day1.csv",
    "bucket": "fraud-landing",
    "generation": "1795318996277167733",
    "metageneration": "2",
    "contentType": "text/csv",
    "timeCreated": "2026-11-22T03:43:16.277181Z",
    "updated": "2026-11-22T03:43:16.277181Z",
    "storageClass": "STANDARD",
    "size": "8",
    "md5Hash": "5evUwCzvvnlVl3xnraJCtw==",
    "crc32c": "SZ2HxQ==",
    "etag": "5evUwCzvvnlVl3xnraJCtw==",
}


def received(data: bytes, attributes: dict[str, str], message_id: str = "1") -> dict:
    """A pulled message exactly as the provider's trigger stores it (to_dict, then JSON in the DB)."""
    proto = ReceivedMessage(
        ack_id="projects/p/subscriptions/s:1",
        message=PubsubMessage(data=data, attributes=attributes, message_id=message_id),
    )
    return dict(json.loads(json.dumps(ReceivedMessage.to_dict(proto))))


def trigger_extra(*messages: dict) -> dict:
    """The asset event extra the triggerer writes for one Pub/Sub trigger event."""
    return {"from_trigger": True, "payload": {"status": "success", "message": list(messages)}}


def notification(name: str, event_type: str = OBJECT_FINALIZE, bucket: str = BUCKET) -> dict:
    data, attributes = object_finalize_message({**RESOURCE, "name": name, "bucket": bucket})
    attributes["eventType"] = event_type
    return received(data, attributes)


def test_message_has_the_json_api_v1_attributes_and_the_object_resource_as_body():
    data, attributes = object_finalize_message(RESOURCE)
    assert attributes == {
        "notificationConfig": "projects/_/buckets/fraud-landing/notificationConfigs/local",
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": "fraud-landing",
        "objectId": "incoming/day1.csv",
        "objectGeneration": "1795318996277167733",
        "eventTime": "2026-11-22T03:43:16.277181Z",
        "source": "fraud-landing",
    }
    assert json.loads(data) == RESOURCE


def test_event_time_defaults_to_now_without_an_update_time():
    before = datetime.now(UTC)
    _, attributes = object_finalize_message({k: v for k, v in RESOURCE.items() if k != "updated"})
    stamp = datetime.fromisoformat(attributes["eventTime"].replace("Z", "+00:00"))
    assert before <= stamp <= datetime.now(UTC)


def test_local_message_matches_the_bucket_notification_in_infra():
    (config,) = [r.body for r in iac.resources() if r.type == "google_storage_notification"]
    assert config["payload_format"] == PAYLOAD_FORMAT
    assert config["event_types"] == [OBJECT_FINALIZE]
    assert config["custom_attributes"] == CUSTOM_ATTRIBUTES


def test_pulled_message_reads_back_to_the_landed_object():
    data, attributes = object_finalize_message(RESOURCE)
    got = from_received_message(received(data, attributes, message_id="42"))
    assert got == LandingNotification(
        OBJECT_FINALIZE, BUCKET, "incoming/day1.csv", "1795318996277167733", "42"
    )
    assert got.metadata == RESOURCE


def test_a_body_that_is_not_json_still_names_the_object_from_the_attributes():
    _, attributes = object_finalize_message(RESOURCE)
    got = from_received_message(received(b"\xff not json", attributes))
    assert (got.object_name, got.generation, got.metadata) == ("incoming/day1.csv", "1795318996277167733", {})


def test_attributes_missing_fall_back_to_the_body():
    message = {
        "message": {"data": base64.b64encode(json.dumps(RESOURCE).encode()).decode(), "attributes": {}}
    }
    got = from_received_message(message)
    assert (got.bucket, got.object_name, got.event_type) == (BUCKET, "incoming/day1.csv", "")
    assert not got.is_landing(BUCKET, PREFIX)  # no eventType: not trusted as a landing


@pytest.mark.parametrize(
    ("name", "event_type", "bucket", "expected"),
    [
        ("incoming/day1.csv", "OBJECT_FINALIZE", BUCKET, True),
        ("incoming/day1.csv", "OBJECT_DELETE", BUCKET, False),
        ("incoming/day1.csv", "OBJECT_METADATA_UPDATE", BUCKET, False),
        ("processed/2026-11-22/day1.csv", "OBJECT_FINALIZE", BUCKET, False),  # the archive copy
        ("incoming/", "OBJECT_FINALIZE", BUCKET, False),  # a folder placeholder
        ("incoming/day1.csv", "OBJECT_FINALIZE", "someone-elses-bucket", False),
    ],
)
def test_only_new_objects_under_the_landing_prefix_are_landings(name, event_type, bucket, expected):
    (got,) = from_asset_event_extras([trigger_extra(notification(name, event_type, bucket))])
    assert got.is_landing(BUCKET, PREFIX) is expected


def test_duplicates_collapse_and_arrival_order_is_kept():
    extras = [
        trigger_extra(notification("incoming/b.csv")),
        trigger_extra(notification("incoming/a.csv"), notification("incoming/b.csv")),
        trigger_extra(notification("incoming/a.csv", "OBJECT_DELETE")),
    ]
    notifications = from_asset_event_extras(extras)
    assert len(notifications) == 4
    assert objects_to_ingest(notifications, BUCKET, PREFIX) == ["incoming/b.csv", "incoming/a.csv"]


def test_plan_for_one_notification_is_exactly_that_object():
    plan = ingestion_plan([trigger_extra(notification("incoming/day1.csv"))], BUCKET, PREFIX)
    assert plan == {"objects": ["incoming/day1.csv"], "notifications": 1, "left_behind": [], "ignored": []}


def test_plan_for_a_duplicated_notification_is_still_one_object():
    extras = [
        trigger_extra(notification("incoming/day1.csv")),
        trigger_extra(notification("incoming/day1.csv")),
    ]
    plan = ingestion_plan(extras, BUCKET, PREFIX)
    assert (plan["objects"], plan["notifications"]) == (["incoming/day1.csv"], 2)


def test_plan_for_folded_notifications_names_each_notified_object_once():
    extras = [
        trigger_extra(notification("incoming/a.csv")),
        trigger_extra(notification("incoming/b.csv")),
        trigger_extra(notification("incoming/a.csv")),
    ]
    plan = ingestion_plan(extras, BUCKET, PREFIX)
    assert (plan["objects"], plan["notifications"]) == (["incoming/a.csv", "incoming/b.csv"], 3)


def test_plan_without_landings_has_nothing_to_do_and_says_what_it_ignored():
    extras = [trigger_extra(notification("processed/x.csv")), {"from_trigger": True, "payload": {}}]
    plan = ingestion_plan(extras, BUCKET, PREFIX)
    assert plan["objects"] == [] and plan["notifications"] == 1
    assert plan["ignored"] == ["OBJECT_FINALIZE gs://fraud-landing/processed/x.csv"]


def test_plan_takes_over_later_notifications_once_and_counts_only_its_own():
    own = [trigger_extra(notification("incoming/a.csv"))]
    later = [
        trigger_extra(notification("incoming/a.csv")),  # the run's own event, read again
        trigger_extra(notification("incoming/b.csv")),
        trigger_extra(notification("incoming/b.csv", "OBJECT_DELETE")),
    ]
    plan = ingestion_plan(own, BUCKET, PREFIX, later)
    assert plan == {"objects": ["incoming/a.csv", "incoming/b.csv"], "notifications": 1,
                    "left_behind": ["incoming/b.csv"], "ignored": []}  # fmt: skip
