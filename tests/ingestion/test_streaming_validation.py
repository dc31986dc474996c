"""Validation reads a landed file as a stream: its memory does not grow with the file.

Measured with ``tracemalloc`` (every Python allocation the validation makes, including the
downloaded chunks and decoded lines), not with ``resource.setrlimit(RLIMIT_AS)``: an
address-space limit also counts what glibc reserves per thread (64 MiB malloc arenas, 8 MiB
stacks) for the emulator's and client's threads, so whether it trips depends on thread timing,
not on the data held. The file is several times the budget; the same measurement of a whole-file
download (what validation did before) exceeds the budget, which shows the check can fail.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.ingestion.landed_files import READ_CHUNK_BYTES, validate_landed

#: The client's chunk is held about three times while it is fetched and handed on (measured:
#: 24.2 MiB for 8 MiB chunks); a fourth leaves room for the lines in flight.
BUDGET_BYTES = 4 * READ_CHUNK_BYTES


@pytest.fixture(scope="module")
def big_csv() -> bytes:
    csv = generate(GeneratorConfig(rows=10_000, seed=3)).landing.to_csv(index=False)
    header, _, body = csv.partition("\n")
    repeats = 3 * BUDGET_BYTES // len(body.encode()) + 1  # ~4 MB of CSV per repeat
    data = (header + "\n" + body * repeats).encode()
    assert len(data) > 3 * BUDGET_BYTES
    return data


def peak_traced(fn: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_validation_streams_a_file_larger_than_its_memory_budget(gcs_hook, local_settings, big_csv) -> None:
    s = local_settings
    name = s.landing_prefix + "big.csv"
    gcs_hook.upload(s.landing_bucket, name, data=big_csv)

    (good, quarantined), peak = peak_traced(lambda: validate_landed(gcs_hook, s, run_id="r"))
    assert quarantined == [] and good[0].rows == big_csv.count(b"\n") - 1 and good[0].size == len(big_csv)
    print(f"validation peak {peak / 2**20:.1f} MiB for a {len(big_csv) / 2**20:.0f} MiB file")
    assert peak < BUDGET_BYTES, (
        f"validation held {peak / 2**20:.1f} MiB for a {len(big_csv) / 2**20:.0f} MiB file"
    )

    blob = gcs_hook.get_conn().bucket(s.landing_bucket).get_blob(name)
    _, whole_file_peak = peak_traced(blob.download_as_bytes)
    assert whole_file_peak > BUDGET_BYTES  # the old way: the whole file in memory
