"""The embedded online store: exact values, explicit unknowns, versions and the sync log."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from fraud_mlops.feature_store.local_store import KEEP_VERSIONS, LocalOnlineStore
from fraud_mlops.feature_store.records import ERASURE_SOURCE, OnlineStoreNotReady, SyncRecord, micros_from_utc
from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURE_NAMES

from .helpers import synthetic_rows


def _record(sync_id: str, snapshot: str = "training_snapshot_x") -> SyncRecord:
    return SyncRecord(
        sync_id=sync_id,
        synced_at="2025-03-01T00:00:00+00:00",
        row_count=0,
        source="test",
        source_snapshot=snapshot,
        target="local",
        fingerprint="f",
    )


def _store_rows(rows: list[dict]) -> list[tuple]:
    return [(r[ENTITY_KEY], micros_from_utc(r[EVENT_TIME]), *(r[n] for n in FEATURE_NAMES)) for r in rows]


def test_before_the_first_sync_lookups_say_not_ready(tmp_path: Path) -> None:
    store = LocalOnlineStore(tmp_path / "features.sqlite")
    assert store.current_sync() is None
    assert store.history() == []
    with pytest.raises(OnlineStoreNotReady):
        store.fetch_one("abc")
    with pytest.raises(OnlineStoreNotReady):
        store.fetch(["abc"])


def test_values_round_trip_exactly_and_nulls_stay_missing(tmp_path: Path) -> None:
    rows = synthetic_rows(50)
    store = LocalOnlineStore(tmp_path / "features.sqlite")
    published = store.publish([_store_rows(rows)], _record("s1"))
    assert published.row_count == 50
    assert published.duration_seconds is not None

    for row in rows:
        got = store.fetch_one(row[ENTITY_KEY])
        assert got is not None
        assert got.sync_id == "s1"
        assert got.feature_timestamp == row[EVENT_TIME]
        for name in FEATURE_NAMES:
            assert got.values[name] == row[name], name
            assert type(got.values[name]) is type(row[name]), name
    nulls = [r for r in rows if any(r[n] is None for n in FEATURE_NAMES)]
    assert nulls, "the fixture must contain missing values"
    got = store.fetch_one(nulls[0][ENTITY_KEY])
    assert got is not None
    vector = got.vector()
    for name, value in zip(FEATURE_NAMES, vector, strict=True):
        assert math.isnan(value) == (nulls[0][name] is None)


def test_unknown_keys_are_listed_not_zero_filled(tmp_path: Path) -> None:
    rows = synthetic_rows(10)
    store = LocalOnlineStore(tmp_path / "features.sqlite")
    store.publish([_store_rows(rows)], _record("s1"))
    known = [r[ENTITY_KEY] for r in rows[:3]]
    lookup = store.fetch([*known, "no-such-card", known[0]])
    assert set(lookup.found) == set(known)
    assert lookup.unknown == ("no-such-card",)
    assert lookup.sync_id == "s1"
    assert store.fetch_one("no-such-card") is None


def test_many_key_lookup_spans_several_statements(tmp_path: Path) -> None:
    rows = synthetic_rows(1200, null_every=10**9)
    store = LocalOnlineStore(tmp_path / "features.sqlite")
    store.publish([_store_rows(rows[:600]), _store_rows(rows[600:])], _record("s1"))
    lookup = store.fetch([r[ENTITY_KEY] for r in rows])
    assert len(lookup.found) == 1200
    assert lookup.unknown == ()
    assert lookup.found[rows[1100][ENTITY_KEY]].values["amount"] == rows[1100]["amount"]


def test_each_sync_replaces_the_serving_version_and_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "features.sqlite"
    store = LocalOnlineStore(path)
    first = synthetic_rows(5, seed=1)
    second = synthetic_rows(7, seed=2)
    store.publish([_store_rows(first)], _record("s1", "snap_a"))
    store.publish([_store_rows(second)], _record("s2", "snap_b"))
    store.publish([_store_rows(second)], _record("s3", "snap_c"))

    current = store.current_sync()
    assert current is not None
    assert (current.sync_id, current.row_count, current.source_snapshot) == ("s3", 7, "snap_c")
    assert [r.sync_id for r in store.history()] == ["s1", "s2", "s3"]
    assert store.fetch_one(first[0][ENTITY_KEY]) is None  # gone with the old version
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'features_%'")}
    assert tables == {"features_s2", "features_s3"}
    assert len(tables) == KEEP_VERSIONS


def test_a_failed_sync_leaves_the_serving_version_untouched(tmp_path: Path) -> None:
    store = LocalOnlineStore(tmp_path / "features.sqlite")
    good = synthetic_rows(5, seed=1)
    store.publish([_store_rows(good)], _record("s1"))
    duplicated = _store_rows(synthetic_rows(3, seed=2))
    with pytest.raises(sqlite3.IntegrityError):
        store.publish([duplicated, duplicated[:1]], _record("s2"))
    current = store.current_sync()
    assert current is not None and current.sync_id == "s1"
    assert store.fetch_one(good[0][ENTITY_KEY]) is not None
    assert [r.sync_id for r in store.history()] == ["s1"]


def test_unsafe_sync_ids_are_refused(tmp_path: Path) -> None:
    store = LocalOnlineStore(tmp_path / "features.sqlite")
    with pytest.raises(ValueError, match="unsafe"):
        store.publish([], _record("x'; DROP TABLE sync_log; --"))


def test_a_version_missing_features_of_the_definition_is_not_served(tmp_path: Path) -> None:
    path = tmp_path / "features.sqlite"
    older = LocalOnlineStore(path, feature_names=FEATURE_NAMES[:-1])  # as if synced by old code
    rows = synthetic_rows(3)
    older.publish([[r[:-1] for r in _store_rows(rows)]], _record("s1"))
    with pytest.raises(OnlineStoreNotReady, match=FEATURE_NAMES[-1]):
        LocalOnlineStore(path).fetch_one(rows[0][ENTITY_KEY])


def test_an_erasures_sync_keeps_no_earlier_version_and_empties_the_log(tmp_path: Path) -> None:
    """A sync keeps the version before the serving one; an erasure's keeps none, and empties the
    write-ahead log of their pages. A reader holding a transaction keeps the log busy: the sync
    then fails (SQLite answers busy, it does not raise) and its retry finishes the job."""
    path = tmp_path / "features.sqlite"
    store = LocalOnlineStore(path)
    erased, kept = synthetic_rows(1, seed=1), synthetic_rows(3, seed=2)
    store.publish([_store_rows(erased + kept)], _record("s1"))
    store.publish([_store_rows(erased + kept)], _record("s2"))
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM features_s2").fetchone() == (4,)  # mid-transaction
    store.busy_timeout = 0.05

    with pytest.raises(sqlite3.OperationalError, match="readers kept it busy"):
        store.publish([_store_rows(kept)], _record("s3", ERASURE_SOURCE), forget_earlier=True)
    assert reader.execute("SELECT COUNT(*) FROM features_s2").fetchone() == (4,)  # its snapshot holds
    reader.execute("COMMIT")
    reader.close()
    store.publish([_store_rows(kept)], _record("s4", ERASURE_SOURCE), forget_earlier=True)

    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'features_%'")}
    assert tables == {"features_s4"}
    assert store.fetch_one(erased[0][ENTITY_KEY]) is None
    assert store.fetch_one(kept[0][ENTITY_KEY]) is not None
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    for file in files:
        assert erased[0][ENTITY_KEY].encode() not in file.read_bytes(), file.name
    assert any(kept[0][ENTITY_KEY].encode() in file.read_bytes() for file in files)
