"""A reader in another process, during syncs, sees one whole version per lookup, never a mix."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.records import SyncRecord
from fraud_mlops.features import FEATURE_NAMES, FEATURES

CARDS = 3000  # a many-key lookup spans several statements (500 keys each)
VERSIONS = 8


def _version_rows(version: int) -> list[tuple[Any, ...]]:
    """Every feature of every card equals the version number, so a mix is visible."""
    values = tuple(version if f.bq_type == "INT64" else float(version) for f in FEATURES)
    return [(f"card-{i:05d}", 1_700_000_000_000_000 + version, *values) for i in range(CARDS)]


def _record(version: int) -> SyncRecord:
    return SyncRecord(
        sync_id=f"v{version}",
        synced_at=f"2025-03-01T00:00:{version:02d}+00:00",
        row_count=0,
        source="test",
        source_snapshot=f"snap_{version}",
        target="local",
    )


def _reader(path: str, stop: Any, counter: Any, results: Any) -> None:
    store = LocalOnlineStore(Path(path))
    keys = [f"card-{i:05d}" for i in range(CARDS)]
    reads = 0
    seen: set[str] = set()
    violations: list[str] = []
    while not stop.is_set():
        lookup = store.fetch(keys)
        reads += 1
        counter.value = reads
        values = {float(row.values[n] or 0) for row in lookup.found.values() for n in FEATURE_NAMES}
        sync_ids = {row.sync_id for row in lookup.found.values()}
        if lookup.unknown or len(values) != 1 or len(sync_ids) != 1:
            violations.append(f"read {reads}: {len(lookup.unknown)} unknown, values {sorted(values)}")
        elif f"v{int(values.pop())}" != sync_ids.pop():
            violations.append(f"read {reads}: values do not belong to their sync id")
        else:
            seen.add(lookup.sync_id or "")
        one = store.fetch_one(keys[reads % CARDS])
        if one is None or one.sync_id != f"v{int(one.values['amount'] or 0)}":
            violations.append(f"read {reads}: single-key lookup inconsistent")
    results.put({"reads": reads, "seen": sorted(seen), "violations": violations[:5]})


def _wait_for_more_reads(counter: Any, reader: Any, more: int = 2) -> None:
    target = counter.value + more
    while counter.value < target:
        assert reader.is_alive(), "the reader process died"
        time.sleep(0.01)


def test_readers_never_see_a_mix_of_two_syncs(tmp_path: Path) -> None:
    path = tmp_path / "features.sqlite"
    store = LocalOnlineStore(path)
    store.publish([_version_rows(1)], _record(1))

    ctx = mp.get_context("spawn")
    stop, counter, results = ctx.Event(), ctx.Value("i", 0), ctx.Queue()
    reader = ctx.Process(target=_reader, args=(str(path), stop, counter, results))
    reader.start()
    try:
        for version in range(2, VERSIONS + 2):
            _wait_for_more_reads(counter, reader)  # the reader runs before, during and after
            rows = _version_rows(version)
            store.publish([rows[: CARDS // 2], rows[CARDS // 2 :]], _record(version))
        _wait_for_more_reads(counter, reader)
    finally:
        stop.set()
        outcome = results.get(timeout=60)
        reader.join(timeout=30)

    assert outcome["violations"] == []
    assert outcome["reads"] > 2 * VERSIONS
    assert len(outcome["seen"]) >= VERSIONS // 2, f"the reader must overlap the syncs: {outcome}"
