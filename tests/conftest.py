"""Fixtures shared by every suite: an isolated local data folder and the local warehouse."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fraud_mlops.settings import Settings, get_settings


@pytest.fixture
def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings of the local target with all state under a fresh temporary folder.

    Set through the environment, not only returned: code under test (tasks, components, CLIs)
    reads its settings with ``get_settings()``, which must see the same folder, and the
    warehouse connection points at that folder's DuckDB file, as the local stack's does.
    """
    monkeypatch.setenv("MLOPS_TARGET", "local")
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "local"))
    get_settings.cache_clear()
    settings = get_settings()
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{settings.warehouse_conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "duckdb",
                "host": str(settings.warehouse_path),
                "extra": {"snapshot_dir": str(settings.snapshot_dir)},
            }
        ),
    )
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    from fraud_mlops.pseudonym import ensure_local_keys

    ensure_local_keys(settings.local_dir)  # the local KMS stand-in and the wrapped keyset
    yield settings
    get_settings.cache_clear()


@pytest.fixture
def pseudonymise(local_settings: Settings) -> Callable[[str], str]:
    """The card pseudonym function of :func:`local_settings`' keyset (as the function computes it)."""
    from fraud_mlops import targets

    return targets.pseudonymiser(local_settings)


@pytest.fixture
def gcp_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings of the gcp target for a fake project (only ever sent to mocked clients)."""
    for name, value in {
        "MLOPS_TARGET": "gcp",
        "GCP_PROJECT": "fraud-prj",
        "GCP_REGION": "europe-west4",
        "MLOPS_BQ_DATASET": "fraud",
        "MLOPS_PIPELINE_ROOT": "gs://fraud-prj-pipeline-root",
        "MLOPS_PIPELINE_SA": "pipelines@fraud-prj.iam.gserviceaccount.com",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def gcs_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """gcp-storage-emulator, in memory, in this process, fresh for each test; its URL is also in
    ``STORAGE_EMULATOR_HOST``, which the provider's GCSHook and google-cloud-storage read."""
    from gcp_storage_emulator.server import create_server

    from devtools.stack.config import HOST, free_port

    port = free_port()
    server = create_server(HOST, port, in_memory=True)
    server.start()
    url = f"http://{HOST}:{port}"  # the sync client needs the scheme
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def gcs_client(gcs_emulator: str) -> Any:
    """A google-cloud-storage client (anonymous) on :func:`gcs_emulator`."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.storage import Client

    return Client(project="test-project", credentials=AnonymousCredentials())


@pytest.fixture
def google_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """An anonymous Google connection: the provider's hooks build their clients offline, and the
    tests patch those clients' classes (the Google API boundary) and assert the requests."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        '{"conn_type": "google_cloud_platform", "extra": {"is_anonymous": true, "project": "fraud-prj"}}',
    )


@pytest.fixture
def warehouse(local_settings: Settings) -> Iterator[object]:
    """The real local warehouse hook (DuckDB speaking BigQuery SQL) on a fresh file."""
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    local_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    yield BigQueryDialectDuckDBHook(
        database=str(local_settings.warehouse_path), snapshot_dir=local_settings.snapshot_dir
    )


@pytest.fixture(scope="session")
def examples() -> pd.DataFrame:
    """Synthetic training examples (4,000 rows with fraud), shared by every suite that trains."""
    from tests.training.examples import make_examples

    return make_examples(rows=4000, seed=0)


@pytest.fixture
def snapshot_writer(local_settings: Settings) -> Callable[[str, pd.DataFrame], Path]:
    """Write a frame as a local snapshot file (immutable Parquet, as the warehouse writes them)."""
    from tests.training.examples import write_snapshot

    def write(name: str, frame: pd.DataFrame) -> Path:
        return write_snapshot(local_settings.snapshot_dir, name, frame)

    return write


@pytest.fixture(autouse=True)
def _utc_only_in_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not depend on the machine's zone; the warehouse sets UTC itself.
    monkeypatch.setenv("TZ", os.environ.get("TZ", "UTC"))


pytest_plugins = ["tests.stack_fixture"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the suites that need the local stack last, together: the session-wide stack then
    starts once, late, and is not idling beside the CPU-bound suites."""
    items.sort(key=lambda item: item.get_closest_marker("stack") is not None)
