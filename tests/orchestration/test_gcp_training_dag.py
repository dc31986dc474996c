"""The training DAG on the gcp target, run by real Airflow (``dag.test()``, the deferred pipeline
task's trigger run in line), with only Google's clients mocked at their boundary
(gcp_training_probe.py): Vertex AI Pipelines' create and get calls, and BigQuery's client.

The local twin is test_training_dag.py (kfp.local, DuckDB). Here the pipeline job Vertex is
asked to create, the job it is polled for, the lineage writes sent to BigQuery and the console
links on the task pages are checked.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fraud_mlops.pipeline_runs.vertex import pipeline_job_id
from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import render_sql
from fraud_mlops.training.lineage import LINEAGE_SQL_FILE
from fraud_mlops.training.pipeline_params import pipeline_parameters
from tests.airflow_probes import airflow_home, run_probe
from tests.orchestration.gcp_training_probe import CHAMPION_SNAPSHOT

SNAPSHOT = "training_snapshot_20261205T072026_2f386300"
GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4", "MLOPS_ENDPOINT_ID": "42",
    "MLOPS_PIPELINE_SA": "pipelines@fraud-prj.iam.gserviceaccount.com",
}  # fmt: skip
CONSOLE = "https://console.cloud.google.com/vertex-ai/locations/europe-west4"


def _first_try_job_id(out: dict[str, Any]) -> str:
    run = SimpleNamespace(
        dag_id="fraud_training", run_id=out["dag_run_id"], run_after=datetime.fromisoformat(out["run_after"])
    )
    return pipeline_job_id(run, try_number=1)


def test_snapshot_to_vertex_pipeline_job_to_lineage_row_in_bigquery(tmp_path: Path) -> None:
    settings = settings_from_env(GCP_ENV)
    out = run_probe(
        "tests.orchestration.gcp_training_probe",
        airflow_home(tmp_path, GCP_ENV),
        json.dumps({"snapshot": SNAPSHOT}),
    )

    assert out["states"] == {
        "choose_snapshot": "success",
        "train_evaluate_deploy": "success",
        "record_model_lineage": "success",
    }
    created = out["created"]
    job_id = created.pop("pipeline_job_id")
    assert job_id == _first_try_job_id(out)
    assert created == {
        "parent": "projects/fraud-prj/locations/europe-west4",
        "service_account": "pipelines@fraud-prj.iam.gserviceaccount.com",
        # the DAG params' defaults, as the pipeline's parameters (a Struct: numbers are floats)
        "parameter_values": pipeline_parameters(
            settings,
            SNAPSHOT,
            model_type="hist_gradient_boosting",
            canary_percent=10,
            min_pr_auc=0.5,
            min_roc_auc=0.85,
            champion_tolerance=0.0,
        ),
        "display_name": "fraud-training",
    }
    # the trigger polls the job it created, until Vertex reports it finished
    assert out["polled"] == [{"name": f"projects/fraud-prj/locations/europe-west4/pipelineJobs/{job_id}"}]

    assert out["unknown_requests"] == []
    assert out["job_locations"] == [["fraud-prj", "EU"]]  # the project and location the settings name
    (lineage_sql, lineage_params), (keep_sql, keep_params), *champion_queries = out["queries"]
    assert lineage_sql == render_sql(LINEAGE_SQL_FILE, settings)
    assert {p["name"]: p["parameterValue"]["value"] for p in lineage_params} == {
        "target": "gcp",
        "snapshot_name": SNAPSHOT,
        "pipeline_run": job_id,
        "model_name": MODEL_NAME,
        "model_version": "5",
        "gate_decision": "deploy",
        "gate_reason": "accepted: pr_auc 0.81",
        "champion_version": "4",
        "metrics_json": json.dumps({"pr_auc": 0.81, "roc_auc": 0.97}),
        "traffic_json": json.dumps({"4": 90, "5": 10}),
        "dag_id": "fraud_training",
        "dag_run_id": out["dag_run_id"],
    }
    assert {p["parameterType"]["type"] for p in lineage_params} == {"STRING"}
    # the registered version keeps its training snapshot as long as its artifacts
    assert (keep_sql, keep_params) == (
        render_sql("91_keep_model_snapshot.sql", settings, snapshot=SNAPSHOT),
        [],
    )
    # the champion the gate compared against (4) still serves: its training snapshot, found
    # through lineage, gets the same renewed expiry
    (find_sql, find_params), renew = champion_queries
    assert find_sql == render_sql("92_champion_snapshot.sql", settings)
    assert {p["name"]: p["parameterValue"]["value"] for p in find_params} == {
        "model_name": MODEL_NAME,
        "model_version": "4",
    }
    assert renew == [render_sql("91_keep_model_snapshot.sql", settings, snapshot=CHAMPION_SNAPSHOT), []]

    assert out["links"] == {
        "train_evaluate_deploy": {"Pipeline Job": f"{CONSOLE}/pipelines/runs/{job_id}?project=fraud-prj"},
        "record_model_lineage": {"Endpoint": f"{CONSOLE}/endpoints/42?project=fraud-prj"},
    }


@pytest.mark.parametrize("job_state", ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"])
def test_a_failed_poll_retries_into_the_job_already_running_or_finished(
    tmp_path: Path, job_state: str
) -> None:
    """A transient outage fails the trigger's poll and so the task; its retry finds the job
    its first try created still running, or finished meanwhile (GetPipelineJob), waits for it
    or takes its result, and records its outcome: Vertex is asked to create one job, not one
    per try (a second would train, register and deploy again)."""
    out = run_probe(
        "tests.orchestration.gcp_training_probe",
        airflow_home(tmp_path, GCP_ENV),
        json.dumps({"snapshot": SNAPSHOT}),
        json.dumps({"failed_polls": 1, "job_state": job_state}),
    )

    assert out["states"]["train_evaluate_deploy"] == "success"
    assert out["states"]["record_model_lineage"] == "success"
    assert out["tries"]["train_evaluate_deploy"] == 2
    job_id = _first_try_job_id(out)
    name = f"projects/fraud-prj/locations/europe-west4/pipelineJobs/{job_id}"
    assert out["created_count"] == 1 and out["created"]["pipeline_job_id"] == job_id
    assert out["looked_up"] == [{"name": name}]  # the retry asked for try 1's job
    assert out["polled"] == [{"name": name}, {"name": name}]  # the failed poll, then the retry's
    assert "The service is currently unavailable" in out["_output"]
    lineage_params = {p["name"]: p["parameterValue"]["value"] for p in out["queries"][0][1]}
    assert lineage_params["pipeline_run"] == job_id
    assert out["links"]["train_evaluate_deploy"] == {
        "Pipeline Job": f"{CONSOLE}/pipelines/runs/{job_id}?project=fraud-prj"
    }
