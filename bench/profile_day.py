"""One more day's transform on a warehouse kept by ``bench_incremental.py --keep``, per statement.

The bench prints what a file costs as history grows; what still grows shows only statement by
statement. This lands the next day of the bench's history (the same cards and merchants) on a
copy of the kept warehouse (so it can be profiled again from the same state), then runs the
transform, the checks and the publish, timing every statement (wall and CPU seconds of this process).
Usage: ``python bench/profile_day.py KEPT_DIR [--rows-per-day 300000] [--top 25]``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import _common
import pandas as pd
from bench_incremental import START, daily_landing, population

from fraud_mlops.settings import get_settings


class TimedConnection:
    """A DuckDB connection that records each statement's wall and CPU seconds."""

    def __init__(self, conn: Any, timings: list[tuple[float, float, str]]) -> None:
        self._conn, self._timings = conn, timings

    def execute(self, sql: str, *args: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        result = self._conn.execute(sql, *args)
        text = " ".join(re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL).split())  # comments dropped
        self._timings.append((time.perf_counter() - t0, time.process_time() - c0, text))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kept", type=Path, help="the directory bench_incremental.py --keep printed")
    parser.add_argument("--rows-per-day", type=int, default=300_000)
    parser.add_argument("--top", type=int, default=25, help="statements to print, costliest first")
    args = parser.parse_args()

    local_dir = args.kept / "local"
    os.environ.update(MLOPS_TARGET="local", MLOPS_LOCAL_DIR=str(local_dir))
    get_settings.cache_clear()
    settings = get_settings()
    profiled = args.kept / "profiled.duckdb"
    shutil.copy(settings.warehouse_path, profiled)

    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse
    from tests.sql_chain import load_landing, transform

    hook = DuckDBWarehouse(settings, profiled).hook()
    (day,) = hook.get_records(f"SELECT COUNT(*) FROM {settings.dataset}.transform_log")[0]
    cards, merchants = population(args.rows_per_day)
    frame = pd.read_csv(io.BytesIO(daily_landing(day, args.rows_per_day, cards, merchants)), dtype=str)
    load_landing(
        hook, settings, frame, f"transactions_{(START + timedelta(days=day)):%Y%m%d}.csv", run_id="profiled"
    )

    timings: list[tuple[float, float, str]] = []
    connect = hook.get_conn
    hook.get_conn = lambda: TimedConnection(connect(), timings)  # type: ignore[method-assign]
    t0, c0 = time.perf_counter(), time.process_time()
    transform(hook, settings, run_id="profiled", check=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"\nday {day + 1} on {day} days of history: transform + checks + publish {wall:.2f} s wall, {cpu:.2f} s CPU\n"
    )
    costliest = sorted(enumerate(timings), key=lambda item: -item[1][0])[: args.top]
    rows = [(i, f"{w:.2f}", f"{c:.2f}", sql[:110]) for i, (w, c, sql) in sorted(costliest)]
    print(_common.table(rows, ("#", "wall (s)", "cpu (s)", "statement (DuckDB, as run)")))
    profiled.unlink()


if __name__ == "__main__":
    sys.exit(main())
