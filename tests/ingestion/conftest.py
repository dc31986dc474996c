"""A real GCS emulator (gcp-storage-emulator) that the Google provider's GCSHook talks to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack.config import free_port


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("gcs")
    binary = Path(sys.executable).parent / "gcp-storage-emulator"
    proc = subprocess.Popen(
        [str(binary), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("GCS emulator did not start") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def gcs_hook(gcs_emulator: str, local_settings, monkeypatch: pytest.MonkeyPatch):
    """The provider's own GCSHook, anonymous, pointed at the emulator; buckets created fresh."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{local_settings.gcp_conn_id.upper()}",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "p"}}),
    )
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    hook = GCSHook(gcp_conn_id=local_settings.gcp_conn_id)
    client = hook.get_conn()
    for name in (local_settings.landing_bucket, local_settings.quarantine_bucket):
        bucket = client.lookup_bucket(name)
        if bucket is not None:
            for blob in client.list_blobs(name):
                blob.delete()
        else:
            client.create_bucket(name)
    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_emulator
    return hook
