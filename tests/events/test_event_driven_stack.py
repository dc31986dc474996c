"""End to end on the real local stack: landing a file publishes its notification to the Pub/Sub
emulator, the AssetWatcher in the real triggerer starts a run of ``fraud_ingest_events`` for
exactly that object, the run succeeds, and a duplicated notification adds no rows.

Shares the session's stack (``tests/stack_fixture.py``). The sensor DAG watches the same prefix,
so it is paused while these tests run (and restored after); conftest orders these tests after
the other suites' stack tests.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import pubsub
from devtools.events import runs
from devtools.generator.files import write_landing_csv
from devtools.generator.synth import GeneratorConfig, generate
from devtools.landing import land_file
from devtools.stack.stack import pubsub_emulator_host

pytestmark = [pytest.mark.stack, pytest.mark.slow]

SENSOR_DAG = "fraud_ingest_sensor"
EVENTS_DAG = runs.EVENTS_DAG
ROWS = 1_500


def drain(settings: Any) -> int:
    """Acknowledge notifications published while the DAG was paused (files other DAGs ingested)."""
    host = pubsub_emulator_host(settings)
    assert host, "the local stack runs the Pub/Sub emulator"
    drained = 0
    with pubsub.subscriber(host) as client:
        while True:
            response = client.pull(
                request={"subscription": pubsub.subscription_path(settings), "max_messages": 100,
                         "return_immediately": True}, timeout=10,
            )  # fmt: skip
            if not response.received_messages:
                return drained
            client.acknowledge(
                request={"subscription": pubsub.subscription_path(settings),
                         "ack_ids": [m.ack_id for m in response.received_messages]}
            )  # fmt: skip
            drained += len(response.received_messages)


def warehouse_counts(settings: Any, file_uri: str) -> dict[str, int]:
    """Counts read straight from the DuckDB file, read-only (retried while a task holds the lock)."""
    import duckdb

    deadline = time.monotonic() + 60
    while True:
        try:
            con = duckdb.connect(str(settings.warehouse_path), read_only=True)
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)

    def count(sql: str, *params: str) -> int:
        row = con.execute(sql, list(params)).fetchone()
        assert row is not None
        return int(row[0])

    try:
        ds = settings.dataset
        return {
            "raw_rows": count(f"SELECT COUNT(*) FROM {settings.raw_dataset}.raw_transactions"),
            "file_rows": count(
                f"SELECT COUNT(*) FROM {settings.raw_dataset}.raw_transactions WHERE _file_name = ?", file_uri
            ),
            "staging_rows": count(f"SELECT COUNT(*) FROM {ds}.stg_transactions"),
            "snapshots": count(f"SELECT COUNT(*) FROM {ds}.snapshot_lineage"),
            "file_log": count(f"SELECT COUNT(*) FROM {ds}.ingestion_log WHERE file_name = ?", file_uri),
        }
    finally:
        con.close()


def task_states(api: Any, run_id: str) -> dict[tuple[str, int], str]:
    return {(t["task_id"], t["map_index"]): t["state"] for t in api.task_instances(EVENTS_DAG, run_id)}


@pytest.fixture(scope="module")
def events_stack(local_stack) -> Iterator[Any]:
    api = local_stack.api
    api.wait_for_dags([EVENTS_DAG, SENSOR_DAG])
    sensor_paused = api.request("GET", f"/dags/{SENSOR_DAG}")["is_paused"]
    api.set_paused(SENSOR_DAG, True)
    drain(local_stack.settings)
    runs.activate(api)
    try:
        yield local_stack
    finally:
        api.set_paused(EVENTS_DAG, True)
        api.set_paused(SENSOR_DAG, sensor_paused)


def landing_csv(tmp_path_factory: Any, name: str, seed: int, rows: int = 300) -> Any:
    """A generated landing file (300 rows unless told), in a fresh temporary folder."""
    batch = generate(GeneratorConfig(rows=rows, fraud_rate=0.02, seed=seed, rows_per_card=15))
    return write_landing_csv(batch.landing, tmp_path_factory.mktemp("landing") / name, show_progress=False)


@pytest.fixture(scope="module")
def first_run(events_stack, tmp_path_factory) -> dict[str, Any]:
    api, settings = events_stack.api, events_stack.settings
    name = f"events_{uuid.uuid4().hex[:8]}.csv"
    uri = land_file(landing_csv(tmp_path_factory, name, seed=2026, rows=ROWS), settings=settings)
    object_name = settings.landing_prefix + name
    run = runs.wait_for_object_run(api, object_name, timeout=180)
    finished = api.wait_for_run(EVENTS_DAG, run["dag_run_id"], timeout=900)
    return {"object": object_name, "uri": uri, "run": finished, "counts": warehouse_counts(settings, uri)}


def test_landing_starts_a_watcher_run_that_ingests_exactly_that_object(events_stack, first_run):
    api, run_id = events_stack.api, first_run["run"]["dag_run_id"]
    states = task_states(api, run_id)
    assert first_run["run"]["state"] == "success", states
    assert set(states.values()) == {"success"}, states
    assert first_run["run"]["run_type"] == "asset_triggered"
    plan = api.xcom(EVENTS_DAG, run_id, "resolve_landed_objects")
    assert plan["objects"] == [first_run["object"]]
    validated = api.xcom(EVENTS_DAG, run_id, "validate_landed_files")
    assert [f["name"] for f in validated] == [first_run["object"]]


def test_the_run_loaded_every_row_of_the_file_and_archived_it(events_stack, first_run):
    counts = first_run["counts"]
    assert counts["file_rows"] == ROWS and counts["file_log"] == 1
    summary = events_stack.api.xcom(EVENTS_DAG, first_run["run"]["dag_run_id"], "summarise_run")
    assert summary["counts"]["raw_rows"] == counts["raw_rows"]
    from devtools.landing import storage_client

    names = [
        b.name for b in storage_client(events_stack.settings).list_blobs(events_stack.settings.landing_bucket)
    ]
    assert first_run["object"] not in names
    assert any(
        n.endswith(first_run["object"].rsplit("/", 1)[-1]) and n.startswith("processed/") for n in names
    )


def test_a_duplicated_notification_runs_with_nothing_to_do_and_adds_no_rows(events_stack, first_run):
    api, settings = events_stack.api, events_stack.settings
    (event,) = runs.consumed_events(api, first_run["run"]["dag_run_id"])
    (received,) = event["extra"]["payload"]["message"]
    message = received["message"]
    # Pub/Sub redelivers the same notification: same body and attributes, new message id.
    host = pubsub_emulator_host(settings)
    assert host
    pubsub.publish(host, settings, base64.b64decode(message["data"]), message["attributes"])

    run = runs.wait_for_object_run(
        api, first_run["object"], exclude={first_run["run"]["dag_run_id"]}, timeout=180
    )
    finished = api.wait_for_run(EVENTS_DAG, run["dag_run_id"], timeout=600)
    states = task_states(api, run["dag_run_id"])
    assert finished["state"] == "success", states
    assert api.xcom(EVENTS_DAG, run["dag_run_id"], "validate_landed_files") == []  # already archived
    assert states[("load_raw.append_raw_file", -1)] == "skipped"
    assert states[("snapshot.snapshot_training_table", -1)] == "skipped"  # no new snapshot, no retraining
    assert warehouse_counts(settings, first_run["uri"]) == first_run["counts"]


def wait_for_task(api: Any, run_id: str, task_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while task_states(api, run_id).get((task_id, -1)) != "success":
        assert time.monotonic() < deadline, f"{task_id} of {run_id} did not succeed in {timeout:.0f} s"
        time.sleep(0.3)


def test_notifications_folded_into_one_run_ingest_exactly_the_notified_files(
    events_stack, first_run, tmp_path_factory
):
    """Notifications that arrive while a run is busy (``max_active_runs=1``) are ingested by one
    later run, each notified file once, and a file that landed without a notification is not."""
    from devtools.landing import storage_client

    api, settings = events_stack.api, events_stack.settings
    tag = uuid.uuid4().hex[:6]
    busy, *folded = [settings.landing_prefix + f"fold_{tag}_{i}.csv" for i in range(3)]
    bystander = settings.landing_prefix + f"fold_{tag}_unnotified.csv"
    bucket = storage_client(settings).bucket(settings.landing_bucket)
    bucket.blob(bystander).upload_from_filename(str(landing_csv(tmp_path_factory, "unnotified.csv", 7)))
    try:
        before = {r["dag_run_id"] for r in api.runs(EVENTS_DAG)}
        land_file(landing_csv(tmp_path_factory, busy.rsplit("/", 1)[-1], 1), settings=settings)
        busy_run = runs.wait_for_object_run(api, busy, exclude=before, timeout=180)
        # Once its resolver has read the asset's events, the busy run takes over no later ones.
        wait_for_task(api, busy_run["dag_run_id"], "resolve_landed_objects")
        for i, name in enumerate(folded, start=2):  # while the first run is still running
            land_file(landing_csv(tmp_path_factory, name.rsplit("/", 1)[-1], i), settings=settings)
        assert api.run(EVENTS_DAG, busy_run["dag_run_id"])["state"] == "running"
        folded_run = runs.wait_for_object_run(
            api, folded, exclude=before | {busy_run["dag_run_id"]}, timeout=300
        )
        for run in (busy_run, folded_run):
            finished = api.wait_for_run(EVENTS_DAG, run["dag_run_id"], timeout=600)
            assert finished["state"] == "success", task_states(api, run["dag_run_id"])

        def validated(run_id: str) -> list[str]:
            return [f["name"] for f in api.xcom(EVENTS_DAG, run_id, "validate_landed_files")]

        assert validated(busy_run["dag_run_id"]) == [busy]
        # Airflow 3.3 puts only the first waiting notification into this run's window
        # (apache/airflow#56050) and starts no run for the second; the resolver takes it over.
        notified = {n.object_name for n in runs.notifications_of_run(api, folded_run["dag_run_id"])}
        assert notified and notified <= set(folded)
        plan = api.xcom(EVENTS_DAG, folded_run["dag_run_id"], "resolve_landed_objects")
        assert sorted(plan["objects"]) == folded  # in arrival order, which Pub/Sub does not promise
        assert validated(folded_run["dag_run_id"]) == plan["objects"]
        assert bucket.get_blob(bystander) is not None  # no notification named it: still landed
        for name in (busy, *folded):
            uri = f"gs://{settings.landing_bucket}/{name}"
            counts = warehouse_counts(settings, uri)
            assert (counts["file_rows"], counts["file_log"]) == (300, 1), name
    finally:
        bucket.blob(bystander).delete()
