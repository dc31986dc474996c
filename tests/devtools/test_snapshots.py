"""Local snapshot files: the demo's "worse data" copy, and the newest one the CLI trains on."""

from __future__ import annotations

import pandas as pd

from devtools.snapshots import degraded_snapshot, newest_local_snapshot
from fraud_mlops.features import LABEL, TRANSACTION_ID
from fraud_mlops.settings import Settings


def test_degraded_snapshot_shuffles_history_labels_only(
    local_settings: Settings, snapshot_writer, examples: pd.DataFrame
) -> None:
    snapshot_writer("training_snapshot_20260901T000000_00000001", examples)
    name = degraded_snapshot(local_settings, "training_snapshot_20260901T000000_00000001")
    assert newest_local_snapshot(local_settings) == name

    original = examples.set_index(TRANSACTION_ID)[LABEL]
    degraded = pd.read_parquet(local_settings.snapshot_dir / f"{name}.parquet").set_index(TRANSACTION_ID)[
        LABEL
    ]
    test_ids = examples[TRANSACTION_ID].iloc[-600:]  # the newest 15 %
    history_ids = examples[TRANSACTION_ID].iloc[:-600]
    assert (degraded[test_ids] == original[test_ids]).all()
    assert degraded[history_ids].sum() == original[history_ids].sum()  # same fraud count…
    assert (degraded[history_ids] != original[history_ids]).sum() > 100  # …on other rows


def test_the_newest_snapshot_is_the_last_written_not_the_last_named(
    local_settings: Settings, snapshot_writer, examples: pd.DataFrame
) -> None:
    """A run cleared after a newer run published takes its second snapshot (``_2``), holding the
    newest rows, under its own, older, run time."""
    import os

    newer_run = "training_snapshot_20261207T040000_00000002"
    cleared_run = "training_snapshot_20261207T030000_00000001_2"
    snapshot_writer(newer_run, examples)
    snapshot_writer(cleared_run, examples)
    written = local_settings.snapshot_dir / f"{newer_run}.parquet"
    os.utime(written, ns=(written.stat().st_atime_ns, written.stat().st_mtime_ns - 10**9))  # a second earlier
    assert newest_local_snapshot(local_settings) == cleared_run
