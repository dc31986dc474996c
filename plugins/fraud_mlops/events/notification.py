"""Cloud Storage Pub/Sub notifications (``JSON_API_V1``): build them, read them back.

The real landing bucket publishes one message per finalized object (``infra/modules/pubsub``);
the local GCS emulator publishes none, so local landing builds the same message here. The
event-driven DAG reads the messages the Pub/Sub trigger put in its asset events and decides
which landed objects to ingest. Pure functions: no clients, no Airflow.

Message format (https://cloud.google.com/storage/docs/pubsub-notifications): attributes
``notificationConfig``, ``eventType``, ``payloadFormat``, ``bucketId``, ``objectId``,
``objectGeneration``, ``eventTime`` plus the notification's custom attributes; the body is the
object's JSON API resource.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

OBJECT_FINALIZE = "OBJECT_FINALIZE"
PAYLOAD_FORMAT = "JSON_API_V1"
#: The custom attributes of the bucket notification in infra/modules/pubsub (a test keeps them equal).
CUSTOM_ATTRIBUTES = {"source": "fraud-landing"}
#: What the local landing command calls its notification config (GCS numbers them on gcp).
LOCAL_NOTIFICATION_ID = "local"


@dataclass(frozen=True)
class LandingNotification:
    """One Cloud Storage notification, as the event-driven DAG needs it."""

    event_type: str
    bucket: str
    object_name: str
    generation: str
    message_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def is_landing(self, bucket: str, prefix: str) -> bool:
        """A new object in the watched place (not a delete, an archive copy or another bucket)."""
        return (
            self.event_type == OBJECT_FINALIZE
            and self.bucket == bucket
            and self.object_name.startswith(prefix)
            and not self.object_name.endswith("/")
        )


def object_finalize_message(
    resource: Mapping[str, Any],
    *,
    event_time: datetime | None = None,
    notification_id: str = LOCAL_NOTIFICATION_ID,
) -> tuple[bytes, dict[str, str]]:
    """(data, attributes) of the message GCS publishes when ``resource`` is finalized.

    ``resource`` is the object's JSON API representation, as an upload returns it.
    """
    bucket, name = str(resource["bucket"]), str(resource["name"])
    stamp = event_time or _parse_time(resource.get("updated")) or datetime.now(UTC)
    attributes = {
        "notificationConfig": f"projects/_/buckets/{bucket}/notificationConfigs/{notification_id}",
        "eventType": OBJECT_FINALIZE,
        "payloadFormat": PAYLOAD_FORMAT,
        "bucketId": bucket,
        "objectId": name,
        "objectGeneration": str(resource["generation"]),
        "eventTime": stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        **CUSTOM_ATTRIBUTES,
    }
    data = json.dumps(dict(resource), sort_keys=True, separators=(",", ":")).encode()
    return data, attributes


def from_received_message(received: Mapping[str, Any]) -> LandingNotification:
    """Read one ``ReceivedMessage.to_dict()`` (what the Pub/Sub trigger puts in its event).

    The body is base64 there (protobuf ``bytes``); a non-JSON body is kept out of ``metadata``
    rather than failing the run, since the attributes alone name the object.
    """
    message = received.get("message", received)
    attributes = dict(message.get("attributes") or {})
    metadata: dict[str, Any] = {}
    raw = message.get("data") or ""
    try:
        decoded = base64.b64decode(raw) if isinstance(raw, str) else bytes(raw)
        parsed = json.loads(decoded) if decoded else {}
        metadata = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        metadata = {}
    return LandingNotification(
        event_type=attributes.get("eventType", ""),
        bucket=attributes.get("bucketId", metadata.get("bucket", "")),
        object_name=attributes.get("objectId", metadata.get("name", "")),
        generation=str(attributes.get("objectGeneration", metadata.get("generation", ""))),
        message_id=str(message.get("message_id", message.get("messageId", ""))),
        metadata=metadata,
    )


def from_asset_event_extras(extras: Iterable[Mapping[str, Any]]) -> list[LandingNotification]:
    """Every notification carried by the asset events of one run.

    The triggerer stores a Pub/Sub trigger event as ``{"from_trigger": True, "payload":
    {"status": "success", "message": [ReceivedMessage.to_dict(), ...]}}``; Airflow folds the
    events that arrive while the DAG is busy into one run, so there can be many.
    """
    found: list[LandingNotification] = []
    for extra in extras:
        payload = extra.get("payload") or {}
        for received in payload.get("message") or []:
            found.append(from_received_message(received))
    return found


def objects_to_ingest(notifications: Iterable[LandingNotification], bucket: str, prefix: str) -> list[str]:
    """Landed object names the notifications ask for, each once, in arrival order.

    Duplicates (Pub/Sub delivers at least once) collapse here; loads stay idempotent anyway.
    """
    names: dict[str, None] = {}
    for notification in notifications:
        if notification.is_landing(bucket, prefix):
            names.setdefault(notification.object_name, None)
    return list(names)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def ingestion_plan(
    extras: Iterable[Mapping[str, Any]],
    bucket: str,
    prefix: str,
    later_extras: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What one event-driven run ingests, from the asset events that started it.

    ``objects`` names exactly the landed objects the notifications ask for: one in the usual
    case (one notification, one run), several when notifications arrived while a run was busy.
    ``later_extras`` are the asset's events stamped after this run's ``run_after``: Airflow
    3.3 leaves all but the first of the notifications that wait while the DAG is at
    ``max_active_runs`` out of the next run's window and starts no run for them until another
    notification arrives (apache/airflow#56050). This run takes them over (``left_behind``);
    a later run that names them again finds them archived, which is the duplicate case.
    Files under the prefix that no notification named are left alone.
    """
    notifications = from_asset_event_extras(extras)
    triggered = objects_to_ingest(notifications, bucket, prefix)
    later = objects_to_ingest(from_asset_event_extras(later_extras), bucket, prefix)
    taken_over = [name for name in later if name not in triggered]
    return {
        "objects": [*triggered, *taken_over],
        "notifications": len(notifications),
        "left_behind": taken_over,
        "ignored": [
            f"{n.event_type} gs://{n.bucket}/{n.object_name}"
            for n in notifications
            if not n.is_landing(bucket, prefix)
        ],
    }
