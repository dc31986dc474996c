"""Landing → Pub/Sub emulator → the provider's Pub/Sub trigger, with the real components.

No Airflow scheduler here: the trigger the DAG's AssetWatcher is built with runs in this
process, against the gcloud emulator, and its event is read the way a run reads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from devtools import pubsub
from devtools.landing import land_file
from fraud_mlops.events import watcher
from fraud_mlops.events.notification import ingestion_plan
from fraud_mlops.settings import LANDING_SUBSCRIPTION, LANDING_TOPIC, Settings, settings_from_env
from tests.infra import iac

CSV = "transaction_id,amount\n1,2.5\n"


@pytest.fixture
def landing(events_settings: Settings, pubsub_emulator: str, gcs_client: Any, monkeypatch, tmp_path: Path):
    """A local target whose landing bucket and Pub/Sub topic/subscription exist in the emulators."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)  # what every stack process has
    gcs_client.create_bucket(events_settings.landing_bucket)
    pubsub.ensure_landing_subscription(events_settings, pubsub_emulator)
    path = tmp_path / "day1.csv"
    path.write_text(CSV)
    return path


def pull(settings: Settings, host: str, max_messages: int = 10) -> list[Any]:
    """Pull (and acknowledge) what waits in the landing subscription, without waiting."""
    with pubsub.subscriber(host) as client:
        response = client.pull(
            request={"subscription": pubsub.subscription_path(settings), "max_messages": max_messages,
                     "return_immediately": True},
            timeout=10,
        )  # fmt: skip
        if response.received_messages:
            client.acknowledge(
                request={"subscription": pubsub.subscription_path(settings),
                         "ack_ids": [m.ack_id for m in response.received_messages]}
            )  # fmt: skip
        return list(response.received_messages)


def fire_watcher_trigger(settings: Settings, timeout: float = 90) -> dict:
    """Run the DAG's watcher trigger until its first event; return the asset event extra it becomes."""
    trigger = watcher.landing_watcher(settings).trigger

    async def first_event() -> Any:
        async for event in trigger.run():
            return event
        raise AssertionError("the trigger ended without an event")

    event = asyncio.run(asyncio.wait_for(first_event(), timeout))
    # Trigger.submit_event stores this extra (JSON in the metadata DB) on the watched asset.
    return dict(json.loads(json.dumps({"from_trigger": True, "payload": event.payload})))


def test_landing_subscription_is_created_once_with_the_infra_ack_deadline(events_settings, pubsub_emulator):
    pubsub.ensure_landing_subscription(events_settings, pubsub_emulator)
    pubsub.ensure_landing_subscription(events_settings, pubsub_emulator)  # every `up` calls it again
    with pubsub.subscriber(pubsub_emulator) as client:
        got = client.get_subscription(subscription=pubsub.subscription_path(events_settings))
    (infra_sub,) = [r.body for r in iac.resources() if r.type == "google_pubsub_subscription"]
    assert got.name == f"projects/{events_settings.project}/subscriptions/{LANDING_SUBSCRIPTION}"
    assert got.topic == f"projects/{events_settings.project}/topics/{LANDING_TOPIC}"
    assert got.ack_deadline_seconds == infra_sub["ack_deadline_seconds"] == pubsub.ACK_DEADLINE_SECONDS


def test_local_landing_publishes_the_bucket_notification(
    events_settings, pubsub_emulator, landing, gcs_client
):
    uri = land_file(landing, settings=events_settings)
    (message,) = pull(events_settings, pubsub_emulator)
    blob = gcs_client.bucket(events_settings.landing_bucket).get_blob("incoming/day1.csv")
    assert uri == "gs://fraud-landing/incoming/day1.csv"
    attributes = dict(message.message.attributes)
    assert {
        k: attributes[k] for k in ("eventType", "payloadFormat", "bucketId", "objectId", "objectGeneration")
    } == {
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": "fraud-landing",
        "objectId": "incoming/day1.csv",
        "objectGeneration": str(blob.generation),
    }
    body = json.loads(message.message.data)
    assert (body["name"], body["md5Hash"], int(body["size"])) == (blob.name, blob.md5_hash, len(CSV))


def test_watcher_trigger_turns_a_landing_into_a_run_of_exactly_that_object(events_settings, pubsub_emulator,
                                                                           landing, anonymous_google_connection):  # fmt: skip
    land_file(landing, settings=events_settings)
    extra = fire_watcher_trigger(events_settings)
    plan = ingestion_plan([extra], events_settings.landing_bucket, events_settings.landing_prefix)
    assert plan["objects"] == ["incoming/day1.csv"]
    assert pull(events_settings, pubsub_emulator) == []  # the trigger acknowledged it


def test_a_duplicated_notification_is_delivered_again_and_plans_the_same_single_object(
    events_settings, pubsub_emulator, landing, anonymous_google_connection
):
    land_file(landing, settings=events_settings)
    first = fire_watcher_trigger(events_settings)
    (received,) = first["payload"]["message"]
    data = __import__("base64").b64decode(received["message"]["data"])
    pubsub.publish(pubsub_emulator, events_settings, data, received["message"]["attributes"])
    second = fire_watcher_trigger(events_settings)
    assert second["payload"]["message"][0]["message"]["attributes"] == received["message"]["attributes"]
    plan = ingestion_plan([first, second], events_settings.landing_bucket, events_settings.landing_prefix)
    assert (plan["notifications"], plan["objects"]) == (2, ["incoming/day1.csv"])


def test_a_trigger_waiting_on_an_empty_subscription_fires_when_the_file_lands(
    events_settings, pubsub_emulator, landing, anonymous_google_connection
):
    async def listen_then_land() -> Any:
        trigger = watcher.landing_watcher(events_settings).trigger
        listening = asyncio.ensure_future(anext(aiter(trigger.run())))
        await asyncio.sleep(2)  # the trigger pulls every second and finds nothing yet
        assert not listening.done()
        await asyncio.to_thread(land_file, landing, None, events_settings)
        return await asyncio.wait_for(listening, 60)

    event = asyncio.run(listen_then_land())
    assert event.payload["message"][0]["message"]["attributes"]["objectId"] == "incoming/day1.csv"


def test_without_an_emulator_landing_still_lands_and_warns(
    events_settings, gcs_client, monkeypatch, tmp_path, caplog
):
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)  # and no stack state in this local dir
    gcs_client.create_bucket(events_settings.landing_bucket)
    path = tmp_path / "day1.csv"
    path.write_text(CSV)
    with caplog.at_level(logging.WARNING, logger="devtools.pubsub"):
        uri = land_file(path, settings=events_settings)
    assert gcs_client.bucket(events_settings.landing_bucket).get_blob("incoming/day1.csv") is not None
    assert uri.endswith("incoming/day1.csv")
    assert "landed without a notification" in caplog.text


def test_gcp_landing_publishes_nothing_the_bucket_does(pubsub_emulator, gcs_client, monkeypatch, tmp_path):
    local = settings_from_env(
        {"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(tmp_path / "l"), "GCP_PROJECT": "gcp-p1"}
    )
    gcp = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "gcp-p1"})
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)  # publishing would succeed if attempted
    pubsub.ensure_landing_subscription(local, pubsub_emulator)
    gcs_client.create_bucket(gcp.landing_bucket)
    # Cloud Storage itself is the Google API here: the client is the emulator's, at the boundary.
    monkeypatch.setattr("devtools.landing.storage_client", lambda settings: gcs_client)
    path = tmp_path / "day1.csv"
    path.write_text(CSV)
    land_file(path, settings=gcp)
    assert gcs_client.bucket(gcp.landing_bucket).get_blob("incoming/day1.csv") is not None
    assert pull(local, pubsub_emulator) == []
    with pytest.raises(RuntimeError, match="notification config"):
        pubsub.notify_object_finalized(gcp, {"bucket": "b", "name": "n", "generation": "1"}, pubsub_emulator)


def test_local_landing_publishes_nothing_where_the_storage_emulator_notifies(
    events_settings, pubsub_emulator, landing
):
    """fake-gcs-server (compose, Astro) publishes the notification itself: one per file, not two."""
    notifying = dataclasses.replace(events_settings, storage_notifies=True)
    land_file(landing, settings=notifying)
    assert pull(events_settings, pubsub_emulator) == []
    land_file(landing, name="day2.csv", settings=events_settings)  # the same setup, not notifying
    (message,) = pull(events_settings, pubsub_emulator)
    assert message.message.attributes["objectId"] == "incoming/day2.csv"


@pytest.mark.parametrize(
    ("env", "notifies"),
    [
        ({"MLOPS_TARGET": "local"}, False),  # gcp-storage-emulator sends nothing
        ({"MLOPS_TARGET": "local", "MLOPS_STORAGE_NOTIFIES": "true"}, True),
        ({"MLOPS_TARGET": "gcp"}, True),  # Cloud Storage always does
        ({"MLOPS_TARGET": "gcp", "MLOPS_STORAGE_NOTIFIES": "false"}, True),
    ],
)
def test_who_publishes_landing_notifications(env: dict[str, str], notifies: bool) -> None:
    assert settings_from_env(env).storage_notifies is notifies


def test_the_watchers_poll_is_a_setting() -> None:
    """Composer users trade a notification's wait for the triggerer's log lines (three a poll)."""
    settings = settings_from_env(
        {"MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-project", "MLOPS_WATCHER_POLL_SECONDS": "15"}
    )
    assert watcher.landing_watcher(settings).trigger.serialize()[1]["poke_interval"] == 15.0
    for spin in (
        "0",
        "-1",
        "soon",
        "nan",
        "inf",
    ):  # (inf: the first empty pull would sleep for ever)  # a poll of 0 would pull in a tight loop
        with pytest.raises(
            ValueError, match="MLOPS_WATCHER_POLL_SECONDS must be a number of seconds above 0"
        ):
            settings_from_env({"MLOPS_TARGET": "gcp", "MLOPS_WATCHER_POLL_SECONDS": spin})


@pytest.mark.parametrize("target", ["local", "gcp"])
def test_watcher_trigger_is_the_providers_pubsub_pull_trigger_on_the_landing_subscription(target):
    settings = settings_from_env({"MLOPS_TARGET": target, "GCP_PROJECT": "fraud-project"})
    asset = watcher.landed_files_asset(settings)
    assert (asset.name, asset.uri) == (
        "fraud_landed_files",
        "gs://fraud-landing/incoming",
    )  # Airflow drops the slash
    (watch,) = asset.watchers
    assert watch.trigger.serialize() == (
        "airflow.providers.google.cloud.triggers.pubsub.PubsubPullTrigger",
        {
            "project_id": "fraud-project",
            "subscription": "fraud-landing-airflow",
            "max_messages": 1,
            "ack_messages": True,
            "poke_interval": 1.0,
            "gcp_conn_id": "google_cloud_default",
            "impersonation_chain": None,
            "return_immediately": True,
        },
    )
