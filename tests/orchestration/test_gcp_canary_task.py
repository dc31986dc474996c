"""The monitoring DAG's canary task on the gcp target, run by real Airflow (``dag.test()``).

Only Google's clients are mocked, at their boundary (gcp_canary_probe.py): the Model Registry
and Endpoint GAPIC clients, BigQuery's client and Cloud Logging's. The task itself is the one
``fraud_monitoring`` builds: its evidence query, the verdict, the registry and endpoint
requests, the alert and the console links on the task's page are checked request for request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1 as v1
from google.logging.type import log_severity_pb2
from google.protobuf import field_mask_pb2

from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import render_sql
from tests.airflow_probes import airflow_home, run_probe
from tests.orchestration.gcp_canary_probe import EVIDENCE_BOUNDS

GCP_ENV = {
    "MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", "GCP_REGION": "europe-west4", "MLOPS_ENDPOINT_ID": "42",
}  # fmt: skip
LOCATION = "projects/fraud-prj/locations/europe-west4"
PARENT = f"{LOCATION}/models/fraud-detector"
ENDPOINT = f"{LOCATION}/endpoints/42"
CONSOLE = "https://console.cloud.google.com/vertex-ai"
LINKS = {
    "Endpoint": f"{CONSOLE}/locations/europe-west4/endpoints/42?project=fraud-prj",
    "Vertex AI Model": (
        f"{CONSOLE}/models/locations/europe-west4/models/fraud-detector/versions/default/properties?project=fraud-prj"
    ),
}


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return airflow_home(tmp_path_factory.mktemp("canary"), GCP_ENV, dags_folder=Path(__file__).parent)


def run_canary(env: dict[str, str], verdict: str, *how: str) -> dict[str, Any]:
    return run_probe("tests.orchestration.gcp_canary_probe", env, verdict, *how)


def sent(*requests: Any) -> list[dict[str, Any]]:
    """Requests as the probe prints what the mocked clients received."""
    return [json.loads(type(r).to_json(r)) for r in requests]


def evidence_query() -> list[Any]:
    sql = render_sql(
        "86_canary_window.sql", settings_from_env(GCP_ENV), champion="1", canary="3", **EVIDENCE_BOUNDS
    )
    # the versions are checked ids in the text (canary_sql_values), and `since` an hour before the
    # canary's DeployedModel.create_time (partition pruning needs a constant); no parameters
    return [[sql, []]]


def test_a_bad_canary_is_rolled_back_on_vertex_and_the_alert_goes_to_cloud_logging(
    airflow_env: dict[str, str],
) -> None:
    out = run_canary(airflow_env, "rollback")

    assert out["state"] == "success"
    assert out["outcome"]["verdict"] == "ROLLBACK" and out["outcome"]["traffic"] == {"1": 100}
    assert out["queries"] == evidence_query()
    # the endpoint MLOPS_ENDPOINT_ID names, the one the prediction function calls
    assert out["endpoint_reads"] and set(map(json.dumps, out["endpoint_reads"])) == {
        json.dumps(sent(v1.GetEndpointRequest(name=ENDPOINT))[0])
    }
    assert out["endpoint_lists"] == 0
    assert out["undeploy"] == sent(
        v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="333", traffic_split={"111": 100})
    )
    assert out["update_endpoint"] == []
    assert out["merge_aliases"] == sent(  # marked first, unmarked last (canary_apply.begun_decision)
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["canary-rolling-back"]),
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["-challenger"]),
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["-canary-rolling-back"]),
    )
    (alert,) = out["logged_alerts"]
    assert alert["logName"] == "projects/fraud-prj/logs/fraud-alerts"
    assert alert["labels"] == {"kind": "canary_rollback", "component": "fraud-mlops"}
    (entry,) = alert["entries"]
    assert entry["severity"] == log_severity_pb2.LogSeverity.Value("ERROR")  # to_json writes enums as numbers
    assert entry["jsonPayload"]["details"]["reasons"] == out["outcome"]["reasons"]
    assert out["links"] == LINKS


def test_no_verdict_is_carried_out_while_a_training_run_is_in_flight(airflow_env: dict[str, str]) -> None:
    """A fraud_training run Airflow has running: its pipeline may register and deploy a new
    canary (outside any pool or lease). The evidence that would roll the canary back is not even
    read: the task holds, and no traffic or alias moves until the next run."""
    out = run_canary(airflow_env, "rollback", "training_in_flight")

    assert out["state"] == "success"
    assert out["outcome"] == {
        "verdict": "HOLD",
        "reasons": ["1 fraud_training run(s) in flight may deploy a new canary: deciding after it"],
    }
    assert out["queries"] == out["undeploy"] == out["update_endpoint"] == out["merge_aliases"] == []
    assert out["logged_alerts"] == []


def test_a_rollback_begun_before_a_training_run_is_finished_while_it_runs(
    airflow_env: dict[str, str],
) -> None:
    """A rollback cut short (its mark on the canary) when a training run starts: the pipeline's
    registration waits for the mark to go (training.steps.wait_for_canary_verdict), so the
    canary task finishes it, as decided (no evidence read), rather than hold until after a
    training run that waits for it."""
    out = run_canary(airflow_env, "promote", "training_in_flight", "begun_rollback")

    assert out["state"] == "success"
    assert out["outcome"]["verdict"] == "ROLLBACK" and out["outcome"]["traffic"] == {"1": 100}
    assert out["queries"] == []  # finished as it was decided: the evidence (promote) is not read
    assert out["undeploy"] == sent(
        v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="333", traffic_split={"111": 100})
    )
    assert out["merge_aliases"] == sent(  # the mark is on v3 already
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["-challenger"]),
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["-canary-rolling-back"]),
    )
    assert len(out["logged_alerts"]) == 1


def test_a_rollback_whose_alert_cannot_be_sent_fails_and_keeps_the_canary_marked(
    airflow_env: dict[str, str],
) -> None:
    """``raise_alert`` answers False when the sink refuses: the rollback went on, removed the
    challenger alias, and no alert ever went out. The task now fails with the canary off the
    endpoint, its challenger alias and its mark kept, so the retry finishes it and alerts."""
    out = run_canary(airflow_env, "rollback", "alert_fails")

    assert out["state"] == "failed"
    assert out["undeploy"] == sent(
        v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="333", traffic_split={"111": 100})
    )
    assert len(out["logged_alerts"]) == 1  # tried once
    assert out["merge_aliases"] == sent(  # marked; neither the challenger alias nor the mark removed
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["canary-rolling-back"]),
    )


def test_a_canary_failing_every_call_is_rolled_back_though_vertex_never_names_it(
    airflow_env: dict[str, str],
) -> None:
    """Vertex's predict does not say which deployed model failed: the canary never answers, and
    only the endpoint's failures since its deployment (86's last columns) show it."""
    out = run_canary(airflow_env, "failing")

    assert out["state"] == "success"
    assert out["outcome"]["verdict"] == "ROLLBACK" and out["outcome"]["traffic"] == {"1": 100}
    assert out["outcome"]["reasons"] == [
        "error rate 100.00% with the 100 failures naming no model charged to the canary (100 of 1000 "
        "model calls since its deployment, 0.03% the day before; the endpoint does not say which model "
        "failed): above the SLO 1.00% or the champion's 0.00% + 0.50%",
        SILENT_REASON,
    ]
    assert out["queries"] == evidence_query()
    assert out["undeploy"] == sent(
        v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="333", traffic_split={"111": 100})
    )
    (alert,) = out["logged_alerts"]
    assert alert["labels"]["kind"] == "canary_rollback"


SILENT_REASON = (
    "answered 0 of the 1000 model calls since its traffic began, where its 10 % of the traffic gives "
    "~100: its calls fail where the log does not name it (retried onto the champion, or answered "
    "unavailable)"
)


def test_a_canary_whose_failed_calls_the_champion_answered_is_rolled_back(
    airflow_env: dict[str, str],
) -> None:
    """A failing container is a 503 the function retries, and Vertex may route the retry to the
    champion: no failure is logged, the canary is never charged with one, and it would be held
    for good. Its share of the endpoint's traffic (Endpoint.traffic_split) says what it owed."""
    out = run_canary(airflow_env, "silent")

    assert out["state"] == "success"
    assert out["outcome"]["verdict"] == "ROLLBACK" and out["outcome"]["traffic"] == {"1": 100}
    assert out["outcome"]["reasons"] == [SILENT_REASON]
    assert out["outcome"]["evidence"]["window"]["canary_traffic_percent"] == 10
    assert out["queries"] == evidence_query()


def test_a_good_canary_is_promoted_on_vertex_keeping_the_previous_champion(
    airflow_env: dict[str, str],
) -> None:
    out = run_canary(airflow_env, "promote")

    assert out["state"] == "success"
    assert out["outcome"]["verdict"] == "PROMOTE" and out["outcome"]["traffic"] == {"3": 100}
    assert out["queries"] == evidence_query()
    assert out["update_endpoint"] == sent(
        v1.UpdateEndpointRequest(
            endpoint=v1.Endpoint(name=ENDPOINT, traffic_split={"333": 100}),
            update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
        )
    )
    assert out["undeploy"] == sent(v1.UndeployModelRequest(endpoint=ENDPOINT, deployed_model_id="111"))
    assert out["merge_aliases"] == sent(
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["canary-promoting"]),
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@1", version_aliases=["previous-champion"]),
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["champion"]),  # moved off v1
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["-challenger"]),
        v1.MergeVersionAliasesRequest(name=f"{PARENT}@3", version_aliases=["-canary-promoting"]),
    )
    assert out["logged_alerts"] == []
    assert out["links"] == LINKS
