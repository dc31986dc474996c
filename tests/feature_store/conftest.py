"""Fixtures: settings pointed at a temporary local folder or at a fake gcp project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_mlops.settings import Settings, get_settings


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
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
