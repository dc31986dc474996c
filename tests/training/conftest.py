"""Fixtures: settings on a temporary local folder, snapshots of synthetic training examples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from fraud_mlops.settings import Settings, get_settings
from tests.training.examples import make_examples, write_snapshot


@pytest.fixture
def local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MLOPS_TARGET", "local")
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "local"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def gcp_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("MLOPS_TARGET", "gcp")
    monkeypatch.setenv("GCP_PROJECT", "fraud-prj")
    monkeypatch.setenv("GCP_REGION", "europe-west4")
    monkeypatch.setenv("MLOPS_BQ_DATASET", "fraud")
    monkeypatch.setenv("MLOPS_PIPELINE_ROOT", "gs://fraud-prj-pipeline-root")
    monkeypatch.setenv("MLOPS_PIPELINE_SA", "pipelines@fraud-prj.iam.gserviceaccount.com")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def examples() -> pd.DataFrame:
    return make_examples(rows=4000, seed=0)


@pytest.fixture
def snapshot_writer(local_settings: Settings) -> Callable[[str, pd.DataFrame], Path]:
    def write(name: str, frame: pd.DataFrame) -> Path:
        return write_snapshot(local_settings.snapshot_dir, name, frame)

    return write
