"""A Vertex pipeline job's outcome, read back from its task details (what the lineage row records)."""

from __future__ import annotations

import json

import pytest

from fraud_mlops.pipeline_runs.result import PipelineResult
from fraud_mlops.pipeline_runs.vertex import result_from_vertex_job


def _task(name: str, **outputs: str) -> dict:
    return {"task_name": name, "execution": {"metadata": {f"output:{k}": v for k, v in outputs.items()}}}


def _job(gate: str, evaluate: str, deploy: str) -> dict:
    return {
        "name": "projects/123/locations/europe-west4/pipelineJobs/fraud-training-20261122031911",
        "state": "PIPELINE_STATE_SUCCEEDED",
        "job_detail": {
            "task_details": [
                _task("fraud-training-20261122031911"),  # the root task
                _task("score-champion", version="4", has_champion="true"),
                _task(evaluate, metrics_json=json.dumps({"pr_auc": 0.81}), threshold="0.4"),
                _task(
                    gate,
                    decision="deploy",
                    reason="accepted",
                    pipeline_run="fraud-training-20261122031911",
                ),
                _task("register-model", model_version="5"),
                _task(deploy, model_version="5", traffic_json='{"5": 10, "4": 90}'),
            ]
        },
    }


@pytest.mark.parametrize(
    "names",
    [("decide-gate", "evaluate-model", "deploy-model"), ("gate", "evaluate", "deploy")],
    ids=["task keys", "display names"],
)
def test_vertex_job_outcome_is_read_from_task_execution_metadata(names: tuple[str, str, str]) -> None:
    """Whether Vertex names a task detail by its key or by its display name, the outcome is the same."""
    result = result_from_vertex_job(_job(*names), "training_snapshot_x")
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


def test_the_tasks_read_are_the_compiled_pipelines_under_both_names() -> None:
    """The keys read are tasks of the template Vertex runs, and each display name leads to its key."""
    import yaml

    from fraud_mlops.pipeline_runs.base import pipeline_yaml_path
    from fraud_mlops.pipeline_runs.vertex import _OUTPUTS_BY_TASK, compiled_task_names

    names = compiled_task_names(yaml.safe_load(pipeline_yaml_path().read_text()))
    assert set(_OUTPUTS_BY_TASK) <= set(names.values())
    assert {names[n] for n in ("gate", "evaluate", "deploy", "score-champion")} == set(_OUTPUTS_BY_TASK)
