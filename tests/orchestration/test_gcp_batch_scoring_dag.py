"""The batch-scoring DAG on the gcp target, run by real Airflow (``dag.test()``, the deferred batch
prediction job's trigger run in line), with Google's services answered at the client boundary
(gcp_batch_probe.py): BigQuery's REST API under the real client, Vertex's job service calls.

It shows what the rendering tests cannot: the provider's operators run for real, and the model
version the finished Vertex job reports (its ``model_version_id``, through the operator's XCom)
is the one ``replace_run_predictions`` sends BigQuery.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql, run_digest
from tests.airflow_probes import airflow_home, run_probe

GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4",
}  # fmt: skip


def _run_label(out: dict[str, Any]) -> str:
    run = SimpleNamespace(dag_id="fraud_batch_scoring", run_id=out["run_id"])
    return f"run-{run_digest(run)}"  # type: ignore[arg-type]  # run_after is not read


def test_input_table_to_vertex_batch_job_to_this_runs_predictions(tmp_path: Path) -> None:
    settings = settings_from_env(GCP_ENV)
    out = run_probe("tests.orchestration.gcp_batch_probe", airflow_home(tmp_path, GCP_ENV))

    assert out["states"] == {
        "prepare_batch_input": "success",
        "batch_predict": "success",
        "replace_run_predictions": "success",
        "summarise_batch_scoring": "success",
    }
    assert out["unknown_requests"] == []
    assert {
        (j["jobReference"]["projectId"], j["jobReference"].get("location")) for j in out["bigquery_jobs"]
    } == {("fraud-prj", "EU")}  # the project and location the settings name

    created = out["created"]
    assert created["parent"] == "projects/fraud-prj/locations/europe-west4"
    job = created["job"]
    assert job["displayName"].startswith("fraud-batch-scoring-")
    assert job["model"] == "projects/fraud-prj/locations/europe-west4/models/fraud-detector@champion"
    assert job["inputConfig"] == {
        "instancesFormat": "bigquery",
        "bigquerySource": {"inputUri": "bq://fraud-prj.fraud.batch_prediction_input"},
    }
    assert job["outputConfig"] == {
        "predictionsFormat": "bigquery",
        "bigqueryDestination": {"outputUri": "bq://fraud-prj.fraud.batch_prediction_output"},
    }
    assert job["dedicatedResources"]["machineSpec"]["machineType"] == "n1-standard-2"
    assert (
        job["dedicatedResources"]["startingReplicaCount"],
        job["dedicatedResources"]["maxReplicaCount"],
    ) == (1, 2)
    assert len(out["polled"]) >= 1
    # the job carries its run's label, which a retry looks it up by; the first try looks up nothing
    assert job["labels"] == {
        "app": "fraud-mlops",
        "dag": "fraud_batch_scoring",
        "airflow_run": _run_label(out),
    }
    assert out["listed"] == []

    prepare, replace, summary = (j["configuration"]["query"] for j in out["bigquery_jobs"])
    assert prepare["query"] == render_sql(SQL_FILES["batch_prediction_input"], settings)
    assert replace["query"] == render_sql(SQL_FILES["card_predictions"], settings)
    assert {p["name"]: p["parameterValue"]["value"] for p in replace["queryParameters"]} == {
        "run_id": out["run_id"],
        "model_version": "7",  # the finished job's model_version_id: @champion as Vertex resolved it
        "run_after": out["run_after"],  # the run's rows lie on its days: those are read
    }
    assert summary["query"] == render_sql(SQL_FILES["batch_scoring_summary"], settings)
    assert {p["name"]: p["parameterValue"]["value"] for p in summary["queryParameters"]} == {
        "run_id": out["run_id"], "run_after": out["run_after"],
    }  # fmt: skip
    assert {q["useLegacySql"] for q in (prepare, replace, summary)} == {False}

    # the provider operators' console links, on the task pages
    (prepare_job,) = [j["jobReference"]["jobId"] for j in out["bigquery_jobs"][:1]]
    assert out["links"]["batch_predict"] == {
        "Batch Prediction Job": (
            "https://console.cloud.google.com/vertex-ai/locations/europe-west4/batch-predictions/4242?project=fraud-prj"
        )
    }
    assert out["links"]["prepare_batch_input"]["BigQuery Job Detail"] == (
        f"https://console.cloud.google.com/bigquery?project=fraud-prj&ws=!1m5!1m4!1m3!1sfraud-prj!2s{prepare_job}!3sEU"
    )

    assert out["summary"] == {
        "run_id": out["run_id"],
        "rows_written": 11996,
        "flagged_as_fraud": 24,
        "score_quantiles": [0.0, 0.0001, 0.0003, 0.0011, 0.9984],
        "model_versions": "7",
        "cards_in_input": 11996,
    }


def test_cards_the_batch_job_left_unscored_fail_the_summary(tmp_path: Path) -> None:
    """Vertex's batch job succeeds with instances it could not score, leaving them out of its
    output: fewer rows than input cards fails the summary, naming how many, without retries."""
    out = run_probe("tests.orchestration.gcp_batch_probe", airflow_home(tmp_path, GCP_ENV), "partial")
    assert out["states"] == {
        "prepare_batch_input": "success",
        "batch_predict": "success",
        "replace_run_predictions": "success",  # the scored cards are kept
        "summarise_batch_scoring": "failed",
    }
    assert "batch scoring wrote 11,990 of 11,996 cards: 6 were not scored" in out["_output"]


def test_a_failed_poll_retries_into_the_job_already_running(tmp_path: Path) -> None:
    """A transient outage fails the trigger's poll and so the task; its retry lists the run's
    jobs by label, finds the first try's still running, and waits for it: Vertex is asked to
    create one job, and the run scores with it."""
    out = run_probe("tests.orchestration.gcp_batch_probe", airflow_home(tmp_path, GCP_ENV), "complete", "1")

    assert set(out["states"].values()) == {"success"}
    assert out["batch_predict_tries"] == 2
    assert out["created_count"] == 1
    assert out["listed"] == [
        {
            "parent": "projects/fraud-prj/locations/europe-west4",
            "filter": f'labels.airflow_run="{_run_label(out)}"',
            "page_size": None,
            "page_token": None,
            "read_mask": None,
        }
    ]
    name = "projects/fraud-prj/locations/europe-west4/batchPredictionJobs/4242"
    assert [p["name"] if isinstance(p, dict) else p for p in out["polled"]] == [name, name]
    assert "The service is currently unavailable" in out["_output"]
    assert "waiting for it, not creating another" in out["_output"]
    replace = out["bigquery_jobs"][1]["configuration"]["query"]
    assert {p["name"]: p["parameterValue"]["value"] for p in replace["queryParameters"]}[
        "model_version"
    ] == "7"
    assert out["links"]["batch_predict"] == {
        "Batch Prediction Job": (
            "https://console.cloud.google.com/vertex-ai/locations/europe-west4/batch-predictions/4242?project=fraud-prj"
        )
    }
