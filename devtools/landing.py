"""Put a file into the landing bucket of the active target (what a card network's export does).

Locally the bucket lives in the GCS emulator started by the local stack; its address comes
from ``STORAGE_EMULATOR_HOST`` or, when unset, from the running stack's state file. With
``MLOPS_TARGET=gcp`` the same command uploads to the real bucket with the user's credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fraud_mlops.settings import Settings, get_settings


def storage_client(settings: Settings) -> Any:
    from google.cloud import storage

    if settings.target == "gcp":
        return storage.Client(project=settings.project)
    from google.auth.credentials import AnonymousCredentials

    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        from devtools.stack.stack import gcs_emulator_url

        url = gcs_emulator_url(settings)
        if url is None:
            raise RuntimeError("the local stack is not running: start it with `make up`")
        os.environ["STORAGE_EMULATOR_HOST"] = url
    return storage.Client(project=settings.project, credentials=AnonymousCredentials())


def land_file(path: Path, name: str | None = None, settings: Settings | None = None) -> str:
    """Upload ``path`` under the landing prefix; returns its ``gs://`` URI."""
    settings = settings or get_settings()
    object_name = settings.landing_prefix + (name or path.name)
    blob = storage_client(settings).bucket(settings.landing_bucket).blob(object_name)
    blob.upload_from_filename(str(path), content_type="text/csv")
    if not settings.storage_notifies:
        # gcp-storage-emulator sends no notifications: publish the OBJECT_FINALIZE message the
        # real bucket's notification config would (on gcp the bucket does, infra/modules/pubsub;
        # in containers fake-gcs-server does, MLOPS_STORAGE_NOTIFIES=true).
        from devtools.pubsub import notify_object_finalized
        from devtools.stack.stack import pubsub_emulator_host

        notify_object_finalized(settings, blob._properties, pubsub_emulator_host(settings))
    return f"gs://{settings.landing_bucket}/{object_name}"
