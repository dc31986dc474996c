"""The Google provider's own GCSHook on the real GCS emulator (tests/conftest.py's ``gcs_emulator``)."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def gcs_hook(gcs_emulator: str, local_settings, monkeypatch: pytest.MonkeyPatch):
    """The provider's own GCSHook, anonymous, pointed at the emulator; buckets created fresh."""
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
