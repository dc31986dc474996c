"""Fixtures of the event-driven tests: the real gcloud Pub/Sub emulator and an in-process GCS emulator.

Also orders this folder's local-stack tests after every other suite's. The session shares one
stack (``tests/stack_fixture.py``) and its warehouse; the ingestion end-to-end test in
``tests/stack`` asserts absolute row counts, so rows this folder lands must come after it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack.config import HOST, free_port
from fraud_mlops.settings import Settings, settings_from_env

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [i for i in items if HERE in Path(str(i.path)).parents and i.get_closest_marker("stack")]
    if ours:
        items[:] = [i for i in items if i not in ours] + ours


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a gcloud Pub/Sub emulator started for this session (part of the machine image)."""
    gcloud = shutil.which("gcloud")
    if not gcloud:
        pytest.fail("the gcloud CLI with the Pub/Sub emulator is part of this machine image")
    port = free_port()
    data_dir = tmp_path_factory.mktemp("pubsub")
    proc = subprocess.Popen(
        [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port={HOST}:{port}",
         f"--data-dir={data_dir}", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, "the Pub/Sub emulator exited"
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the Pub/Sub emulator did not answer in 120 s")
                time.sleep(0.5)
        yield f"{HOST}:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.fixture
def events_settings(tmp_path: Path) -> Settings:
    """Local settings with a project of their own, so each test has its own topic and subscription."""
    return settings_from_env(
        {
            "MLOPS_TARGET": "local",
            "MLOPS_LOCAL_DIR": str(tmp_path / "local"),
            "GCP_PROJECT": f"events-{uuid.uuid4().hex[:10]}",
        }
    )


@pytest.fixture
def anonymous_google_connection(events_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """The local stack's Google connection (anonymous), as the provider's hooks read it."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{events_settings.gcp_conn_id.upper()}",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}}),
    )
    return events_settings.gcp_conn_id
