"""The Asset the event-driven DAG is scheduled on, and its Pub/Sub watcher.

The Google provider's ``PubsubPullTrigger`` (what ``MessageQueueTrigger(scheme="google+pubsub")``
resolves to through common-messaging), in a subclass that takes a pull's deadline passing on an
empty subscription as an empty answer (:mod:`fraud_mlops.events.pull_trigger`), runs in the
triggerer, pulls the landing subscription and yields one event per pull; the triggerer turns
each event into an asset event whose ``extra["payload"]["message"]`` holds the pulled messages
(:func:`fraud_mlops.events.notification.from_asset_event_extras` reads them back).

Latency choices, measured by ``bench/bench_trigger_latency.py``:

* ``return_immediately=False``: the pull waits on the server until a message exists (the
  emulator holds it ~60 s), so a notification is picked up as it is published instead of on
  the next poll. ``True`` is deprecated by the provider and may return nothing although
  messages wait.
* ``poke_interval`` only applies after a pull came back empty; 1 s keeps that gap small.
* ``max_messages=1``: one notification, one asset event, one run of exactly that object.
* ``ack_messages=True``: acknowledged once the trigger has them; a redelivery (Pub/Sub is
  at-least-once) only starts a run that finds nothing new (loads are idempotent by content).

Imported by the DAG file at parse time: the messaging provider import costs about as much as
the GCS sensor's (~1-3 s on a loaded 2-core box); nothing heavier.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetWatcher

from fraud_mlops.settings import Settings

ASSET_NAME = "fraud_landed_files"
WATCHER_NAME = "landing_notifications"
POLL_SECONDS = 1.0
MAX_MESSAGES = 1


def trigger_kwargs(settings: Settings) -> dict[str, Any]:
    """What the Pub/Sub trigger is built with (both targets: the settings' names)."""
    return {
        "project_id": settings.project,
        "subscription": settings.landing_subscription,
        "max_messages": MAX_MESSAGES,
        "ack_messages": True,
        "gcp_conn_id": settings.gcp_conn_id,
        "poke_interval": POLL_SECONDS,
        "return_immediately": False,
    }


def landing_watcher(settings: Settings) -> AssetWatcher:
    """The provider's pull trigger, but for a pull that waits out its deadline on an empty
    subscription, which Cloud Pub/Sub may end in an error (events/pull_trigger.py)."""
    from fraud_mlops.events.pull_trigger import LandingPullTrigger

    return AssetWatcher(name=WATCHER_NAME, trigger=LandingPullTrigger(**trigger_kwargs(settings)))


def landed_files_asset(settings: Settings, watch: bool = True) -> Asset:
    """Objects finalized under the landing prefix; each notification is one asset event.

    ``watch=False`` gives the same asset without the trigger (to look it up, not schedule on it).
    """
    watchers = [landing_watcher(settings)] if watch else []
    return Asset(
        name=ASSET_NAME,
        uri=f"gs://{settings.landing_bucket}/{settings.landing_prefix}",
        watchers=watchers,
    )
