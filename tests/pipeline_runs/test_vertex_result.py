"""A Vertex pipeline job's outcome, read back from its task details (what the lineage row records)."""

from __future__ import annotations

import json

import pytest

from fraud_mlops.pipeline_runs.result import PipelineResult
from fraud_mlops.pipeline_runs.vertex import result_from_vertex_job


def _task(name: str, **outputs: str) -> dict:
    return {"task_name": name, "execution": {"metadata": {f"output:{k}": v for k, v in outputs.items()}}}


def test_vertex_job_outcome_is_read_from_task_execution_metadata() -> None:
    job = {
        "name": "projects/123/locations/europe-west4/pipelineJobs/fraud-training-20261122031911",
        "state": "PIPELINE_STATE_SUCCEEDED",
        "job_detail": {
            "task_details": [
                _task("fraud-training-20261122031911"),  # the root task
                _task("score-champion", version="4", has_champion="true"),
                _task("evaluate-model", metrics_json=json.dumps({"pr_auc": 0.81}), threshold="0.4"),
                _task(
                    "decide-gate",
                    decision="deploy",
                    reason="accepted",
                    pipeline_run="fraud-training-20261122031911",
                ),
                _task("register-model", model_version="5"),
                _task("deploy-model", model_version="5", traffic_json='{"5": 10, "4": 90}'),
            ]
        },
    }
    result = result_from_vertex_job(job, "training_snapshot_x")
    assert result == PipelineResult(
        pipeline_run="fraud-training-20261122031911",
        snapshot="training_snapshot_x",
        decision="deploy",
        reason="accepted",
        model_version="5",
        champion_version="4",
        metrics={"pr_auc": 0.81},
        traffic={"5": 10, "4": 90},
    )


def test_vertex_job_without_a_gate_decision_is_an_error() -> None:
    with pytest.raises(ValueError, match="no gate decision"):
        result_from_vertex_job(
            {"name": "j", "state": "PIPELINE_STATE_FAILED", "jobDetail": {"taskDetails": []}}, "s"
        )
