"""Streaming validation throughput: a landed CSV (plain and gzip) checked line by line.

Every landed file is read once as a stream before it loads (fraud_mlops/ingestion/landed_files.py):
its MD5, its header, and each line's field count and quoting, so a bad line is rejected with its
number and the good rows load. The same code runs on Composer's workers against Cloud Storage.
Lines are counted a block at a time (fraud_mlops/ingestion/line_blocks.py). Baseline, in the
same process on the same bytes: the previous scan, every line counted one by one in Python
(still the path of lines the blocks leave undecided). Prints rows/s and MB/s of both and the
speed-up (median of ``--repeats`` alternating runs), and the peak memory the check allocates
(it must not grow with the file). Usage: ``python bench/bench_validation.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import _common

from devtools.generator.files import write_landing_csv
from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.ingestion import landed_files
from fraud_mlops.ingestion.landed_files import scan_landing_stream


def seconds(data: bytes, by_blocks: bool) -> float:
    """Time one check of ``data``, by blocks or (the baseline) line by line."""
    original = landed_files.has_lone_carriage_return
    if not by_blocks:  # every block is then read line by line, as before blocks
        landed_files.has_lone_carriage_return = lambda block: True
    try:
        t0 = time.perf_counter()
        check = scan_landing_stream(io.BytesIO(data))
        elapsed = time.perf_counter() - t0
    finally:
        landed_files.has_lone_carriage_return = original
    assert check.ok, check.reason
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    landing = generate(GeneratorConfig(rows=args.rows, fraud_rate=0.01, seed=7)).landing
    with tempfile.TemporaryDirectory() as tmp:  # the generator's own landing format (quoted strings)
        plain = write_landing_csv(landing, Path(tmp) / "landing.csv", show_progress=False).read_bytes()
    files = {"plain": plain, "gzip": gzip.compress(plain, compresslevel=6)}
    table = []
    for name, data in files.items():
        runs: dict[str, list[float]] = {"project": [], "baseline": []}
        for _ in range(args.repeats):
            runs["project"].append(seconds(data, by_blocks=True))
            runs["baseline"].append(seconds(data, by_blocks=False))
        project, baseline = statistics.median(runs["project"]), statistics.median(runs["baseline"])
        tracemalloc.start()
        scan_landing_stream(io.BytesIO(data))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        for label, s in (("project", project), ("baseline: line by line", baseline)):
            table.append((name, label, f"{s:.2f} s", f"{args.rows / s:,.0f}", f"{len(plain) / s / 1e6:.0f}"))
        table.append((name, "speed-up", f"{baseline / project:.2f}x", "", f"peak {peak / 2**20:.1f} MiB"))
    print(
        f"Streaming validation, {args.rows:,} rows ({len(plain) / 1e6:.0f} MB uncompressed), median of {args.repeats}\n"
    )
    print(_common.table(table, ("file", "line check", "time", "rows/s", "MB/s")))


if __name__ == "__main__":
    main()
