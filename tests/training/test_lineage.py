"""The model_lineage row: built from either target's outcome, written with the same SQL."""

from __future__ import annotations

import json
from types import SimpleNamespace
from unittest import mock

import pytest
from google.cloud import bigquery

from fraud_mlops.training.dag_tasks import snapshot_from_events
from fraud_mlops.training.lineage import (
    lineage_row,
    lineage_sql,
    result_from_vertex_job,
    write_lineage_bigquery,
    write_lineage_local,
)
from fraud_mlops.training.pipeline_params import PipelineResult

RESULT = PipelineResult(
    pipeline_run="fraud-training-2026-11-22-02-45-59-133159",
    snapshot="training_snapshot_20260901T000000_abcd1234",
    decision="deploy",
    reason="accepted: pr_auc 0.8442, roc_auc 0.9901 clear the bars (no champion yet)",
    model_version="1",
    champion_version="",
    metrics={"pr_auc": 0.8442, "roc_auc": 0.9901},
    traffic={"1": 100},
)


def _row(result: PipelineResult = RESULT, target: str = "local"):  # type: ignore[no-untyped-def]
    return lineage_row(
        result, target=target, model_name="fraud-detector", dag_id="fraud_training", dag_run_id="r1"
    )


def test_local_lineage_goes_through_the_warehouse_hook(warehouse) -> None:  # type: ignore[no-untyped-def]
    rejected = PipelineResult(
        "fraud-training-2", RESULT.snapshot, "reject", "rejected: pr_auc 0.0487 < minimum 0.5000", "", "1"
    )
    write_lineage_local(_row(), warehouse, "fraud")
    write_lineage_local(_row(rejected), warehouse, "fraud")
    rows = warehouse.get_records(
        "SELECT pipeline_run, model_version, gate_decision, gate_reason, champion_version, metrics_json, "
        "traffic_json, dag_run_id, recorded_at IS NOT NULL FROM fraud.model_lineage "
        "ORDER BY recorded_at, pipeline_run"
    )
    assert rows == [
        (
            RESULT.pipeline_run,
            "1",
            "deploy",
            RESULT.reason,
            "",
            '{"pr_auc": 0.8442, "roc_auc": 0.9901}',
            '{"1": 100}',
            "r1",
            True,
        ),
        ("fraud-training-2", "", "reject", rejected.reason, "1", "{}", "{}", "r1", True),
    ]


def test_bigquery_lineage_sends_the_same_sql_with_named_string_parameters() -> None:
    client = mock.create_autospec(bigquery.Client, instance=True)
    write_lineage_bigquery(_row(target="gcp"), client, "fraud-prj.fraud", "EU")

    client.query.assert_called_once()
    sql = client.query.call_args.args[0]
    assert sql == lineage_sql("fraud-prj.fraud") and "INSERT INTO `fraud-prj.fraud.model_lineage`" in sql
    assert client.query.call_args.kwargs["location"] == "EU"
    config = client.query.call_args.kwargs["job_config"]
    assert {p.name: (p.type_, p.value) for p in config.query_parameters} == {
        k: ("STRING", v) for k, v in _row(target="gcp").parameters().items()
    }
    assert _row(target="gcp").parameters()["target"] == "gcp"
    client.query.return_value.result.assert_called_once()


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


def test_triggering_snapshot_is_the_newest_event_with_a_name() -> None:
    events = {
        "fraud_training_snapshot": [
            SimpleNamespace(extra={"snapshot": "training_snapshot_a"}, timestamp=1),
            SimpleNamespace(extra={"snapshot": "training_snapshot_c"}, timestamp=3),
            SimpleNamespace(extra={}, timestamp=4),
            SimpleNamespace(extra={"snapshot": "training_snapshot_b"}, timestamp=2),
        ]
    }
    assert snapshot_from_events(events) == "training_snapshot_c"
    assert snapshot_from_events({}) is None and snapshot_from_events(None) is None
