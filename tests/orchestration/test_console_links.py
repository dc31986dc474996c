"""The Vertex AI console links of the tasks that change the endpoint outside a provider operator.

The link mechanism runs for real: a gcp-target task built with ``ConsoleLinks.task`` runs under
``dag.test()`` in a fresh Airflow home, and its links are read back from the serialized DAG as
the API server reads them. The URLs are the provider's own formats (``links/vertex_ai.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraud_mlops import targets
from fraud_mlops.registry.console_links import NoConsoleLinks, VertexConsoleLinks
from fraud_mlops.settings import REPO_ROOT, get_settings, settings_from_env
from tests.airflow_probes import airflow_home, run_probe

GCP_ENV = {"MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-project", "GCP_REGION": "europe-west4"}
CONSOLE = "https://console.cloud.google.com/vertex-ai"
ENDPOINT_URL = f"{CONSOLE}/locations/europe-west4/endpoints/1234567890?project=fraud-project"
MODEL_URL = (
    f"{CONSOLE}/models/locations/europe-west4/models/8765/versions/default/properties?project=fraud-project"
)


def test_link_params_come_from_the_endpoint_id_and_the_model_resource_name() -> None:
    links = targets.console_links(settings_from_env({**GCP_ENV, "MLOPS_ENDPOINT_ID": "1234567890"}))
    assert isinstance(links, VertexConsoleLinks)
    # Vertex names the model with the project's number; the console link keeps the project id
    resource = "projects/123456789012/locations/europe-west4/models/8765@3"
    assert links.params(resource) == {
        "endpoint": {"project_id": "fraud-project", "region": "europe-west4", "endpoint_id": "1234567890"},
        "model": {"project_id": "fraud-project", "region": "europe-west4", "model_id": "8765"},
    }
    # nothing known, nothing linked: no endpoint id, and a local registry's version folder
    unlinked = targets.console_links(settings_from_env(GCP_ENV))
    assert isinstance(unlinked, VertexConsoleLinks)
    assert unlinked.params("/tmp/registry/fraud-detector/3") == {}


def test_a_reports_folder_links_to_its_objects_in_composers_bucket() -> None:
    """Composer mounts its bucket's data/ folder at /home/airflow/gcs/data (Cloud Storage FUSE)
    and names the bucket in ``GCS_BUCKET``: a folder under the mount is that bucket's objects."""
    links = targets.console_links(
        settings_from_env({**GCP_ENV, "GCS_BUCKET": "europe-west4-fraud-1a2b-bucket"})
    )
    assert isinstance(links, VertexConsoleLinks)
    run_dir = "/home/airflow/gcs/data/monitoring/scheduled__2026-12-05T10_30_00_00_00"
    assert links.params(reports_dir=run_dir) == {
        "reports": {
            "project_id": "fraud-project",
            "uri": "europe-west4-fraud-1a2b-bucket/data/monitoring/scheduled__2026-12-05T10_30_00_00_00/",
        }
    }
    # not under the mount, or no bucket known (not on Composer): no link
    assert links.params(reports_dir="/tmp/monitoring/run") == {}
    assert links.params(reports_dir="/home/airflow/gcs/dags") == {}
    unmounted = targets.console_links(settings_from_env(GCP_ENV))
    assert isinstance(unmounted, VertexConsoleLinks)
    assert unmounted.params(reports_dir=run_dir) == {}
    assert isinstance(targets.console_links(settings_from_env({"MLOPS_TARGET": "local"})), NoConsoleLinks)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = airflow_home(tmp_path_factory.mktemp("links"), GCP_ENV, dags_folder=Path(__file__).parent)
    env.pop("MLOPS_ENDPOINT_ID", None)
    return env


def run_links_probe(env: dict[str, str]) -> dict[str, Any]:
    return run_probe("tests.orchestration.console_links_probe", env)


def test_a_gcp_task_page_links_to_its_endpoint_and_model(airflow_env: dict[str, str]) -> None:
    outcome = run_links_probe({**airflow_env, "MLOPS_ENDPOINT_ID": "1234567890"})
    assert outcome["state"] == "success"
    assert outcome["links"] == {"Endpoint": ENDPOINT_URL, "Vertex AI Model": MODEL_URL}


def test_without_an_endpoint_id_the_endpoint_link_stays_empty(airflow_env: dict[str, str]) -> None:
    outcome = run_links_probe(airflow_env)
    assert outcome["state"] == "success"
    # "" is what the API server answers as null: the UI greys the button out
    assert outcome["links"] == {"Endpoint": "", "Vertex AI Model": MODEL_URL}


def _extra_links(target_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    for name, value in target_env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        from airflow.dag_processing.dagbag import DagBag

        found: dict[str, list[str]] = {}
        for dag_file, task_id in (
            ("fraud_monitoring.py", "apply_canary_decision"),
            ("fraud_monitoring.py", "check_drift"),
            ("fraud_training.py", "record_model_lineage"),
            ("fraud_training.py", "train_evaluate_deploy"),
        ):
            bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / dag_file))
            assert bag.import_errors == {}
            (dag,) = bag.dags.values()
            found[task_id] = sorted(link.name for link in dag.get_task(task_id).operator_extra_links)
        return found
    finally:
        get_settings.cache_clear()


def test_the_vertex_tasks_carry_the_links_on_gcp_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _extra_links({**GCP_ENV, "MLOPS_ENDPOINT_ID": "1"}, monkeypatch) == {
        "apply_canary_decision": ["Endpoint", "Vertex AI Model"],
        "check_drift": ["Monitoring reports"],
        "record_model_lineage": ["Endpoint"],
        # RunPipelineJobOperator persists the job's link; the task's own operator must carry it
        "train_evaluate_deploy": ["Pipeline Job"],
    }
    assert _extra_links({"MLOPS_TARGET": "local"}, monkeypatch) == {
        "apply_canary_decision": [],
        "check_drift": [],
        "record_model_lineage": [],
        "train_evaluate_deploy": [],
    }


def test_a_task_records_only_the_links_it_carries() -> None:
    """``check_drift`` carries the reports link only: the endpoint's parameters, known on gcp,
    are not pushed to its XCom (nor is a missing endpoint id reported there)."""
    from unittest import mock

    from fraud_mlops.registry.vertex_link_operators import MonitoringReportsLink

    links = targets.console_links(
        settings_from_env({**GCP_ENV, "MLOPS_ENDPOINT_ID": "1234567890", "GCS_BUCKET": "env-bucket"})
    )
    ti = mock.Mock()
    context = {"task": mock.Mock(operator_extra_links=(MonitoringReportsLink(),)), "ti": ti}
    links.record(context, reports_dir="/home/airflow/gcs/data/monitoring/run-1")
    ti.xcom_push.assert_called_once_with(
        key="monitoring_reports",
        value={"project_id": "fraud-project", "uri": "env-bucket/data/monitoring/run-1/"},
    )
