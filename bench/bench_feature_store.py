"""Feature store benchmark: sync time for N cards, lookup latency and batch throughput.

    PYTHONPATH=plugins .venv/bin/python bench/bench_feature_store.py [--entities 1000000]

Builds a throwaway warehouse (DuckDB) whose ``latest_card_features`` view holds N cards with
every feature of :mod:`fraud_mlops.features`, then measures on the local target:

* the full sync (read the view read-only, fingerprint, write a new version, swap), and a rerun
  (idempotent: same snapshot and data, nothing published);
* single-key lookups (``fetch_one``) p50/p99, for known and unknown cards;
* batch lookups (``fetch`` of 1,000 keys) in keys per second.

Baseline, measured in the same run: the same single-key lookup answered by the warehouse
itself (a DuckDB point query on the latest-features view), i.e. serving without an online
store. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.sync import sync_local_online_store
from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURE_NAMES, FEATURES, LATEST_FEATURES_VIEW
from fraud_mlops.settings import settings_from_env


def build_warehouse(path: Path, schema: str, entities: int) -> None:
    """N cards with random values (10 % NULLs in card features), generated inside DuckDB."""
    columns = []
    for f in FEATURES:
        value = "(random() * 1000)::DOUBLE" if f.bq_type == "FLOAT64" else "(random() * 50)::BIGINT"
        if f.level == "card":
            value = f"CASE WHEN random() < 0.1 THEN NULL ELSE {value} END"
        columns.append(f"{value} AS {f.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path))
    try:
        conn.execute("SET TimeZone='UTC'")
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE {schema}.latest_rows AS SELECT sha256('card' || i::VARCHAR) AS {ENTITY_KEY}, "
            f"TIMESTAMP '2026-10-01' + to_seconds(i) AS {EVENT_TIME}, {', '.join(columns)} "
            f"FROM range({entities}) r(i)"
        )
        conn.execute(f"CREATE VIEW {schema}.{LATEST_FEATURES_VIEW} AS SELECT * FROM {schema}.latest_rows")
    finally:
        conn.close()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def time_each(keys: list[str], call: Callable[[str], object]) -> list[float]:
    out = []
    for key in keys:
        start = time.perf_counter()
        call(key)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--baseline-lookups", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_fs_") as tmp:
        settings = settings_from_env({**os.environ, "MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": tmp})
        print(f"building a warehouse with {args.entities:,} cards x {len(FEATURE_NAMES)} features ...")
        build_warehouse(settings.warehouse_path, settings.dataset, args.entities)

        start = time.perf_counter()
        record = sync_local_online_store("bench_snapshot", settings)
        sync_seconds = time.perf_counter() - start
        start = time.perf_counter()
        rerun = sync_local_online_store("bench_snapshot", settings)
        rerun_seconds = time.perf_counter() - start
        assert rerun.reused and rerun.sync_id == record.sync_id

        conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
        keys = [
            r[0] for r in conn.execute(f"SELECT {ENTITY_KEY} FROM {settings.dataset}.latest_rows").fetchall()
        ]
        rng = random.Random(1)
        store = LocalOnlineStore(settings.online_store_path)
        store.fetch_one(keys[0])  # open this thread's connection

        known = rng.sample(keys, min(args.lookups, len(keys)))
        unknown = [f"{rng.getrandbits(256):064x}" for _ in range(len(known) // 10)]
        known_ms = time_each(known, store.fetch_one)
        unknown_ms = time_each(unknown, store.fetch_one)

        batches = [rng.sample(keys, args.batch) for _ in range(20)]
        start = time.perf_counter()
        for batch in batches:
            lookup = store.fetch(batch)
            assert not lookup.unknown
        batch_seconds = time.perf_counter() - start

        point_query = f"SELECT * FROM {settings.dataset}.{LATEST_FEATURES_VIEW} WHERE {ENTITY_KEY} = ?"
        baseline_ms = time_each(
            rng.sample(keys, min(args.baseline_lookups, len(keys))),
            lambda key: conn.execute(point_query, [key]).fetchone(),
        )
        conn.close()
        size_mb = settings.online_store_path.stat().st_size / 1e6

    p50, p99 = percentiles(known_ms)
    u50, u99 = percentiles(unknown_ms)
    b50, b99 = percentiles(baseline_ms)
    print()
    print("load average now " + ", ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs")
    print(
        f"sync of {record.row_count:,} cards: {sync_seconds:.1f} s "
        f"({record.row_count / sync_seconds:,.0f} cards/s), store file {size_mb:,.0f} MB"
    )
    print(f"rerun of the same sync (idempotent, nothing published): {rerun_seconds:.1f} s")
    print(
        f"single-key lookup, known card:   p50 {p50 * 1000:.0f} us   p99 {p99 * 1000:.0f} us "
        f"({len(known_ms):,} lookups)"
    )
    print(f"single-key lookup, unknown card: p50 {u50 * 1000:.0f} us   p99 {u99 * 1000:.0f} us")
    print(
        f"batch lookup ({args.batch:,} keys per call): "
        f"{len(batches) * args.batch / batch_seconds:,.0f} keys/s"
    )
    print(f"baseline, point query on the warehouse view (DuckDB): p50 {b50:.2f} ms   p99 {b99:.2f} ms")
    print(f"online store vs warehouse, p50 latency: {b50 / p50:,.0f}x faster; p99: {b99 / p99:,.0f}x faster")
    print(f"(mean single-key lookup {statistics.fmean(known_ms) * 1000:.0f} us)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
