"""Fixtures: snapshots of synthetic training examples (settings come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from fraud_mlops.settings import Settings
from tests.training.examples import make_examples, write_snapshot


@pytest.fixture(scope="session")
def examples() -> pd.DataFrame:
    return make_examples(rows=4000, seed=0)


@pytest.fixture
def snapshot_writer(local_settings: Settings) -> Callable[[str, pd.DataFrame], Path]:
    def write(name: str, frame: pd.DataFrame) -> Path:
        return write_snapshot(local_settings.snapshot_dir, name, frame)

    return write
