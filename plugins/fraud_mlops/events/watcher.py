"""The Asset the event-driven DAG is scheduled on, and its Pub/Sub watcher.

The Google provider's ``PubsubPullTrigger`` (what ``MessageQueueTrigger(scheme="google+pubsub")``
resolves to through common-messaging) runs in the triggerer, pulls the landing subscription and
yields one event per pull; the triggerer turns each event into an asset event whose
``extra["payload"]["message"]`` holds the pulled messages
(:func:`fraud_mlops.events.notification.from_asset_event_extras` reads them back).

**The provider's class, as it is.** The triggerer imports a trigger by the class path it
serializes, and Cloud Composer 3 syncs the ``plugins/`` folder (this package) to neither its
scheduler nor its triggerer ("Plugins aren't synchronized to these components of your
environment", https://cloud.google.com/composer/docs/composer-3/install-plugins). A trigger
class of this package would fail to load there on every try, and no notification would ever
start a run (tests/infra/test_composer_contract.py checks every watcher's class path lies in an
installed package).

Latency choices, measured by ``bench/bench_trigger_latency.py``:

* ``return_immediately=True``: an empty pull answers at once, and the trigger pulls again after
  ``poke_interval``. A long poll (``False``) answers as a message is published, but on Cloud
  Pub/Sub one that waits out the client's 60 s deadline on an idle subscription may end in
  ``DEADLINE_EXCEEDED`` (googleapis/python-pubsub#343), which ends the provider's trigger: the
  triggerer would log the watcher failed, and start it again, on every idle minute. (The
  provider calls ``True`` its deprecated default, as the Pull API discourages it: a pull may
  come back empty while messages wait; the next one, a second later, takes them.)
* ``poke_interval`` (``MLOPS_WATCHER_POLL_SECONDS``, default 1 s) applies after a pull came
  back empty: a notification waits about that long at most. An idle subscription costs one
  small pull request a poll, and the triggerer logs three info lines for it (the hook's two,
  the trigger's "Sleeping"): ~260,000 a day at 1 s. Raise it on Composer to trade latency for
  log volume.
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
MAX_MESSAGES = 1


def trigger_kwargs(settings: Settings) -> dict[str, Any]:
    """What the Pub/Sub trigger is built with (both targets: the settings' names)."""
    return {
        "project_id": settings.project,
        "subscription": settings.landing_subscription,
        "max_messages": MAX_MESSAGES,
        "ack_messages": True,
        "gcp_conn_id": settings.gcp_conn_id,
        "poke_interval": settings.watcher_poll_seconds,
        "return_immediately": True,
    }


def landing_watcher(settings: Settings) -> AssetWatcher:
    """The provider's pull trigger on the landing subscription (a class the triggerer imports
    from the provider: see the module's docstring)."""
    from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

    return AssetWatcher(name=WATCHER_NAME, trigger=PubsubPullTrigger(**trigger_kwargs(settings)))


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
