"""Fixtures: one serving world and one real function server (free port) for all serving tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.function_server import FunctionServer, start_function_server

from .helpers import ServingWorld, build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> ServingWorld:
    return build_world(tmp_path_factory.mktemp("serving") / "local")


@pytest.fixture(scope="session")
def server_log(world: ServingWorld) -> Path:
    return world.local_dir / "function.log"


@pytest.fixture(scope="session")
def server(world: ServingWorld, server_log: Path) -> Iterator[FunctionServer]:
    with start_function_server(env=world.env(), log_path=server_log) as running:
        yield running
