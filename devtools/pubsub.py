"""The landing topic and subscription in the local Pub/Sub emulator, and publishing to them.

Only the local target publishes from code: on gcp the bucket's notification config publishes
and OpenTofu owns the topic and subscription (``infra/modules/pubsub``). The clients get an
explicit insecure channel to the emulator instead of a process-wide ``PUBSUB_EMULATOR_HOST``,
so creating them never changes what other code in the process talks to.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraud_mlops.events.notification import object_finalize_message
from fraud_mlops.settings import LANDING_TOPIC, Settings

log = logging.getLogger(__name__)

#: As infra/modules/pubsub sets it: the trigger acknowledges at once, but a slow pull must not redeliver.
ACK_DEADLINE_SECONDS = 60


@dataclass(frozen=True)
class PublishedNotification:
    message_id: str
    data: bytes
    attributes: dict[str, str]


def topic_path(settings: Settings) -> str:
    return f"projects/{settings.project}/topics/{LANDING_TOPIC}"


def subscription_path(settings: Settings) -> str:
    return f"projects/{settings.project}/subscriptions/{settings.landing_subscription}"


def publisher(host: str) -> Any:
    """The generated (GAPIC) publisher: synchronous publish, no batching thread to stop."""
    import grpc
    from google.pubsub_v1 import PublisherClient
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    return PublisherClient(transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host)))


def subscriber(host: str) -> Any:
    """The generated (GAPIC) subscriber; use it as a context manager to close its channel."""
    import grpc
    from google.pubsub_v1 import SubscriberClient
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    return SubscriberClient(transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host)))


def ensure_landing_subscription(settings: Settings, host: str) -> None:
    """Create the landing topic and Airflow's subscription in the emulator (idempotent).

    The emulator keeps nothing across restarts, so the stack calls this on every start.
    """
    from google.api_core.exceptions import AlreadyExists

    with publisher(host) as pub, contextlib.suppress(AlreadyExists):
        pub.create_topic(name=topic_path(settings))
    with subscriber(host) as sub, contextlib.suppress(AlreadyExists):
        sub.create_subscription(
            request={
                "name": subscription_path(settings),
                "topic": topic_path(settings),
                "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
            }
        )


def publish(host: str, settings: Settings, data: bytes, attributes: Mapping[str, str]) -> str:
    """Publish one message to the landing topic; returns its message id."""
    with publisher(host) as client:
        response = client.publish(
            request={
                "topic": topic_path(settings),
                "messages": [{"data": data, "attributes": dict(attributes)}],
            },
            timeout=30,
        )
    return str(response.message_ids[0])


def notify_object_finalized(
    settings: Settings, resource: Mapping[str, Any], host: str | None
) -> PublishedNotification | None:
    """Publish what the real bucket would for a finalized object to the emulator at ``host``.

    Returns None, with a warning, when the local stack runs without the Pub/Sub emulator
    (``host`` is None): the sensor DAG still picks the file up, only the event-driven DAG does
    not hear of it.
    """
    if settings.target == "gcp":
        raise RuntimeError("on gcp the bucket's notification config publishes; code never does")
    if host is None:
        log.warning("no Pub/Sub emulator: gs://%s/%s landed without a notification", *_where(resource))
        return None
    data, attributes = object_finalize_message(resource)
    message_id = publish(host, settings, data, attributes)
    log.info(
        "notified %s for gs://%s/%s (message %s)", attributes["eventType"], *_where(resource), message_id
    )
    return PublishedNotification(message_id=message_id, data=data, attributes=attributes)


def _where(resource: Mapping[str, Any]) -> tuple[str, str]:
    return str(resource.get("bucket")), str(resource.get("name"))
