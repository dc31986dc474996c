"""The local sync: warehouse view → online store, recorded and idempotent."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.sync import record_from_vertex_sync, sync_local_online_store
from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURE_NAMES
from fraud_mlops.settings import Settings

from .helpers import synthetic_rows, write_warehouse


def test_sync_copies_every_card_exactly_and_records_the_sync(local_settings: Settings) -> None:
    rows = synthetic_rows(300)
    write_warehouse(local_settings.warehouse_path, local_settings.dataset, rows)

    record = sync_local_online_store("training_snapshot_20250301T000000_0a1b2c3d", local_settings)

    assert record.row_count == 300
    assert record.source_snapshot == "training_snapshot_20250301T000000_0a1b2c3d"
    assert record.target == "local" and not record.reused
    assert record.source.endswith("#fraud.latest_card_features")
    store = LocalOnlineStore(local_settings.online_store_path)
    assert store.current_sync() == record.__class__(**{**record.to_dict(), "reused": False})
    lookup = store.fetch([r[ENTITY_KEY] for r in rows])
    assert lookup.unknown == ()
    for row in rows:
        got = lookup.found[row[ENTITY_KEY]]
        assert got.feature_timestamp == row[EVENT_TIME]
        assert {n: got.values[n] for n in FEATURE_NAMES} == {n: row[n] for n in FEATURE_NAMES}
        assert got.sync_id == record.sync_id


def test_rerunning_the_same_sync_changes_nothing(local_settings: Settings) -> None:
    write_warehouse(local_settings.warehouse_path, local_settings.dataset, synthetic_rows(40))
    first = sync_local_online_store("snap_a", local_settings)
    again = sync_local_online_store("snap_a", local_settings)

    assert again.reused
    assert again.sync_id == first.sync_id
    assert again.row_count == first.row_count
    store = LocalOnlineStore(local_settings.online_store_path)
    assert [r.sync_id for r in store.history()] == [first.sync_id]


def test_new_data_or_a_new_snapshot_publishes_a_new_version(local_settings: Settings) -> None:
    rows = synthetic_rows(40)
    write_warehouse(local_settings.warehouse_path, local_settings.dataset, rows)
    first = sync_local_online_store("snap_a", local_settings)
    second = sync_local_online_store("snap_b", local_settings)  # same data, new snapshot
    changed = [dict(rows[0], amount=rows[0]["amount"] + 1.0), *rows[1:]]
    write_warehouse(local_settings.warehouse_path, local_settings.dataset, changed)
    third = sync_local_online_store("snap_b", local_settings)  # same snapshot name, new data

    assert len({first.sync_id, second.sync_id, third.sync_id}) == 3
    assert not second.reused and not third.reused
    assert first.fingerprint == second.fingerprint != third.fingerprint
    got = LocalOnlineStore(local_settings.online_store_path).fetch_one(rows[0][ENTITY_KEY])
    assert got is not None and got.values["amount"] == rows[0]["amount"] + 1.0


def test_sync_opens_the_warehouse_read_only(local_settings: Settings) -> None:
    """Another process holding a read-only connection blocks any writer: the sync must not be one."""
    write_warehouse(local_settings.warehouse_path, local_settings.dataset, synthetic_rows(10))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('ready', flush=True); time.sleep(60)",
            str(local_settings.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(duckdb.IOException):  # proves the holder's lock excludes writers
            duckdb.connect(str(local_settings.warehouse_path)).close()
        record = sync_local_online_store("snap_a", local_settings)
    finally:
        holder.kill()
        holder.wait()
    assert record.row_count == 10


def test_vertex_sync_report_becomes_the_same_record() -> None:
    report = {
        "name": "projects/p/locations/europe-west4/featureOnlineStores/s/featureViews/v/featureViewSyncs/987",
        "start_time": 1_740_787_200,
        "end_time": 1_740_787_260,
        "sync_summary": {"row_synced": 1234, "total_slot": 5},
    }
    record = record_from_vertex_sync(report, "snap_a", "bq://p.fraud.latest_card_features")
    assert record.sync_id == "987"
    assert record.synced_at == "2025-03-01T00:01:00+00:00"
    assert record.row_count == 1234
    assert record.duration_seconds == 60.0
    assert record.target == "gcp"
    assert record.source_snapshot == "snap_a"
