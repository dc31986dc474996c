"""Fixtures shared by every suite: an isolated local data folder and the local warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_mlops.settings import Settings, get_settings

TEST_KEY = b"test-pseudonym-key-0123456789abcdef"


@pytest.fixture
def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings of the local target with all state under a fresh temporary folder.

    Set through the environment, not only returned: code under test (tasks, components, CLIs)
    reads its settings with ``get_settings()``, which must see the same folder.
    """
    monkeypatch.setenv("MLOPS_TARGET", "local")
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "local"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


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
def warehouse(local_settings: Settings) -> Iterator[object]:
    """The real local warehouse hook (DuckDB speaking BigQuery SQL) on a fresh file."""
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    local_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    yield BigQueryDialectDuckDBHook(
        database=str(local_settings.warehouse_path), snapshot_dir=local_settings.snapshot_dir
    )


@pytest.fixture(autouse=True)
def _utc_only_in_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not depend on the machine's zone; the warehouse sets UTC itself.
    monkeypatch.setenv("TZ", os.environ.get("TZ", "UTC"))


pytest_plugins = ["tests.stack_fixture"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the suites that need the local stack last, together: the session-wide stack then
    starts once, late, and is not idling beside the CPU-bound suites."""
    items.sort(key=lambda item: item.get_closest_marker("stack") is not None)
