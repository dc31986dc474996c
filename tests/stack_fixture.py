"""The real local stack (GCS + Pub/Sub emulators, Airflow 3) in a temporary folder, free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devtools.stack.airflow_api import AirflowAPI
from devtools.stack.config import HOST, PORT_ENV
from devtools.stack.stack import StackState, down, up
from fraud_mlops.settings import Settings, settings_from_env


@dataclass
class RunningStack:
    settings: Settings
    state: StackState
    api: AirflowAPI

    @property
    def url(self) -> str:
        return self.state.api_url


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    local_dir = tmp_path_factory.mktemp("stack")
    env = {"MLOPS_TARGET": "local", "MLOPS_LOCAL_DIR": str(local_dir), "MLOPS_SENSOR_POKE_SECONDS": "3"}
    saved = {k: os.environ.get(k) for k in [*env, *PORT_ENV.values(), "STORAGE_EMULATOR_HOST"]}
    os.environ.update(env)
    for var in PORT_ENV.values():
        os.environ.pop(var, None)  # free ports: 8080/8793 may be taken on this machine
    settings = settings_from_env(env)
    state = up(settings)
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://{HOST}:{state.ports.gcs}"
    try:
        yield RunningStack(settings, state, AirflowAPI(state.api_url))
    finally:
        down(settings)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
