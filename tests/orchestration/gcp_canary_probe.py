"""Run the real gcp ``apply_canary_decision`` task under ``dag.test()`` with Google's clients
mocked at their boundary; print what it sent and what the UI shows, as JSON.

A subprocess of test_gcp_canary_task.py (Airflow's settings and metadata DB are per process).
The clients answer with the real message types: the Model Registry holds versions 1
(``champion``) and 3 (``challenger``), the endpoint serves them 90/10, and BigQuery's canary
evidence (86_canary_window.sql) is the argument's: ``rollback`` or ``promote`` (see EVIDENCE).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from tests.orchestration.probe_support import links, test_dag

LOCATION = "projects/fraud-prj/locations/europe-west4"
PARENT = f"{LOCATION}/models/fraud-detector"
ENDPOINT = f"{LOCATION}/endpoints/42"
ALIASES = {"champion": "1", "challenger": "3"}
#: When the endpoint says each version was deployed (DeployedModel.create_time)
CHAMPION_DEPLOYED = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
CANARY_DEPLOYED = datetime(2026, 12, 4, 9, 15, tzinfo=UTC)
#: 86_canary_window.sql's bounds: `since` an hour before the canary's deployment, the model
#: calls counted from the deployment on and, for a baseline, from a day before it
EVIDENCE_BOUNDS = {
    "since": "2026-12-04T08:15:00.000000Z",
    "deployed_at": "2026-12-04T09:15:00.000000Z",
    "baseline_from": "2026-12-03T09:15:00.000000Z",
    "silent_from": "2026-12-04T10:15:00.000000Z",
    "deployment_known": "TRUE",
}


def vertex_model_client(cls: mock.MagicMock, begun_rollback: bool = False) -> mock.MagicMock:
    """The registry; with ``begun_rollback`` the canary carries the mark of a rollback an
    earlier try began and did not finish."""
    from google.cloud import aiplatform_v1 as v1

    from tests.vertex_registry import answer_aliases

    client = cls.return_value
    client.list_models.return_value = [v1.Model(name=PARENT)]
    aliases = {**ALIASES, "canary-rolling-back": ALIASES["challenger"]} if begun_rollback else dict(ALIASES)
    answer_aliases(client, PARENT, aliases, "gs://fraud-prj-models/m{}")
    return client


def vertex_endpoint_client(cls: mock.MagicMock) -> mock.MagicMock:
    from google.cloud import aiplatform_v1 as v1

    client = cls.return_value
    deployed = [
        v1.DeployedModel(id="111", model=PARENT, model_version_id="1", create_time=CHAMPION_DEPLOYED),
        v1.DeployedModel(id="333", model=PARENT, model_version_id="3", create_time=CANARY_DEPLOYED),
    ]
    # MLOPS_ENDPOINT_ID names it: read with GetEndpoint, never listed by display name
    client.get_endpoint.return_value = v1.Endpoint(
        name=ENDPOINT, deployed_models=deployed, traffic_split={"111": 90, "333": 10}
    )
    return client


#: Rows of 86_canary_window.sql (ordered by version; the shadow pairs, a CROSS JOIN, on each):
#: the canary flags every request (ROLLBACK), or it answers like the champion for two hours
#: (PROMOTE), or it fails every call it gets (ROLLBACK on the endpoint's failures). No shadow
#: pairs: a Vertex endpoint cannot score one (registry/shadow.py), so the SQL's pairs are COUNT 0
#: and two NULL averages, and the gcp policy must promote without them.
EVIDENCE = {
    "rollback": (
        ("1", 700, 0, 20.0, 2),
        ("3", 300, 0, 20.0, 300),
        (0, None, None, 1_000, 0, 10_000, 0, 1_000),
    ),
    "promote": (("1", 700, 0, 20.0, 7), ("3", 300, 0, 20.0, 3), (0, None, None, 1_000, 0, 10_000, 0, 1_000)),
    # the canary fails every call it gets, and Vertex does not say which model failed: it never
    # answers, and the champion's 900 answers are all the evidence names
    "failing": (("1", 900, 0, 20.0, 7), (0, None, None, 1_000, 100, 10_000, 3, 1_000)),
    # the canary fails every call as a 503 the function retries, which Vertex routes to the
    # champion: no failure is logged, the champion answers all 1,000 calls (those from an hour
    # after the deployment began, the last column: the canary has no row to count from)
    "silent": (("1", 1_000, 0, 20.0, 7), (0, None, None, 1_200, 0, 10_000, 3, 1_000)),
}


#: The columns of 86_canary_window.sql's rows, with their BigQuery types.
EVIDENCE_COLUMNS = [
    ("model_version", "STRING"), ("requests", "INTEGER"), ("errors", "INTEGER"), ("p99_latency_ms", "FLOAT"),
    ("alerts", "INTEGER"), ("first_at", "TIMESTAMP"), ("last_at", "TIMESTAMP"), ("shadow_pairs", "INTEGER"),
    ("mean_abs_diff", "FLOAT"), ("disagreement", "FLOAT"), ("endpoint_requests", "INTEGER"),
    ("unattributed_failures", "INTEGER"), ("before_requests", "INTEGER"), ("before_failures", "INTEGER"),
    ("canary_calls", "INTEGER"),
]  # fmt: skip


def _bigquery_client(verdict: str) -> mock.MagicMock:
    from google.cloud import bigquery

    first = datetime.now(UTC) - timedelta(hours=2)
    index = {name: i for i, (name, _) in enumerate(EVIDENCE_COLUMNS)}
    *versions, pairs = EVIDENCE[verdict]
    rows = [bigquery.Row((*version, first, first, *pairs), index) for version in versions]
    client = mock.create_autospec(bigquery.Client, instance=True)
    client.query.return_value.result.return_value = rows
    return client


TRAINING_RUN = ("fraud_training", "asset_triggered__in_flight")


def _training_run(state: str) -> None:
    """A fraud_training run in Airflow's metadata DB in ``state`` (made ``running``, then ended:
    the probes share one Airflow home)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    dag_id, run_id = TRAINING_RUN
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        if run is None:
            session.add(
                DagRun(
                    dag_id=dag_id, run_id=run_id, run_type=DagRunType.ASSET_TRIGGERED, state=DagRunState(state),
                    run_after=datetime.now(UTC), triggered_by=DagRunTriggeredByType.TEST,
                )
            )  # fmt: skip
        else:
            run.state = DagRunState(state)


def main() -> None:

    bigquery_client = _bigquery_client(sys.argv[1])
    with (
        mock.patch("google.cloud.aiplatform_v1.ModelServiceClient", autospec=True) as model_cls,
        mock.patch("google.cloud.aiplatform_v1.EndpointServiceClient", autospec=True) as endpoint_cls,
        mock.patch(
            "google.cloud.logging_v2.services.logging_service_v2.LoggingServiceV2Client", autospec=True
        ) as logging_cls,
        mock.patch(
            "airflow.providers.google.cloud.hooks.bigquery.BigQueryHook.get_client",
            return_value=bigquery_client,
        ),
    ):
        begun_rollback = "begun_rollback" in sys.argv[2:]
        model_client = vertex_model_client(model_cls, begun_rollback)
        endpoint_client = vertex_endpoint_client(endpoint_cls)
        training_in_flight = "training_in_flight" in sys.argv[2:]
        if training_in_flight:  # a fraud_training run Airflow has running
            _training_run("running")
        if sys.argv[2:] == ["alert_fails"]:  # Cloud Logging refuses the alert
            logging_cls.return_value.write_log_entries.side_effect = RuntimeError("logging unavailable")
        try:
            dag, run = test_dag(Path(__file__).with_name("gcp_canary_dag.py"), "gcp_canary_probe")
        finally:
            if training_in_flight:
                _training_run("success")
    (ti,) = run.get_task_instances()

    def sent(calls: Any) -> list[dict[str, Any]]:
        return [json.loads(type(c.kwargs["request"]).to_json(c.kwargs["request"])) for c in calls]

    print("PROBE " + json.dumps({
        "state": str(ti.state),
        "outcome": ti.xcom_pull(task_ids=ti.task_id),
        "links": links(dag, ti),
        "queries": [[c.args[0], [p.to_api_repr() for p in c.kwargs["job_config"].query_parameters]]
                    for c in bigquery_client.query.call_args_list],
        "endpoint_reads": sent(endpoint_client.get_endpoint.call_args_list),
        "endpoint_lists": len(endpoint_client.list_endpoints.call_args_list),
        "undeploy": sent(endpoint_client.undeploy_model.call_args_list),
        "update_endpoint": sent(endpoint_client.update_endpoint.call_args_list),
        "merge_aliases": sent(model_client.merge_version_aliases.call_args_list),
        "logged_alerts": sent(logging_cls.return_value.write_log_entries.call_args_list),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
