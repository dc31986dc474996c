"""What a training run decided, printed the same for both runners (logs, ``make demo``)."""

from __future__ import annotations

from fraud_mlops.pipeline_runs.result import PipelineResult


def test_outcome_summary_names_metrics_gate_and_version() -> None:
    text = PipelineResult(
        **{
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
    ).summary()
    assert "pr_auc=0.0500, roc_auc=0.5000" in text
    assert "gate           reject: rejected: pr_auc 0.0500 < minimum 0.5000" in text
    assert "none registered; champion stays 1" in text
