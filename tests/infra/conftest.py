"""Fixtures of the infra tests: a real in-process GCS emulator and a miniature repository."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gcs_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A google-cloud-storage client talking to gcp-storage-emulator (in memory, this process)."""
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.storage import Client as StorageClient

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        yield StorageClient(project="test-project", credentials=AnonymousCredentials())
    finally:
        server.stop()


@pytest.fixture
def mini_repo(tmp_path: Path) -> Path:
    """The folders the deploy ships, with the kinds of files that must and must not go."""
    files = {
        "dags/fraud_ingest_daily.py": "# dag\n",
        "dags/.airflowignore": "/include/\n",
        "dags/__pycache__/fraud_ingest_daily.cpython-311.pyc": "bytecode",
        "plugins/.airflowignore": "fraud_mlops/\n",
        "plugins/fraud_mlops/__init__.py": "",
        "plugins/fraud_mlops/paths.py": "# paths\n",
        "plugins/fraud_mlops/__pycache__/paths.cpython-311.pyc": "bytecode",
        "include/sql/00_setup.sql": "SELECT 1;\n",
        "include/pipelines/fraud_training.py": "# pipeline\n",
        "include/pipelines/fraud_training.yaml": "pipelineInfo: {}\n",
        "include/pipelines/.DS_Store": "junk",
        "tests/test_something.py": "# not shipped\n",
        "infra/main.tf": "# not shipped\n",
    }
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tmp_path
