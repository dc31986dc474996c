"""The demo's "worse data" snapshot and the CLI's view of the local registry."""

from __future__ import annotations

import pandas as pd

from devtools.demo.training import degraded_snapshot, outcome_summary
from fraud_mlops.features import LABEL, TRANSACTION_ID
from fraud_mlops.settings import Settings
from fraud_mlops.training.pipeline_params import newest_local_snapshot


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


def test_outcome_summary_names_metrics_gate_and_version() -> None:
    text = outcome_summary(
        {
            "pipeline_run": "fraud-training-1",
            "snapshot": "training_snapshot_x",
            "decision": "reject",
            "reason": "rejected: pr_auc 0.0500 < minimum 0.5000",
            "model_version": "",
            "champion_version": "1",
            "metrics": {"pr_auc": 0.05, "roc_auc": 0.5},
            "traffic": {},
            "wall_seconds": 41.5,
        }
    )
    assert "pr_auc=0.0500, roc_auc=0.5000" in text
    assert "gate           reject: rejected: pr_auc 0.0500 < minimum 0.5000" in text
    assert "none registered; champion stays 1" in text
