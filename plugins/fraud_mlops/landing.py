"""Put a file into the landing bucket of the active target (what a card network's export does).

Locally the bucket lives in the GCS emulator started by the local stack; its address comes
from ``STORAGE_EMULATOR_HOST`` or, when unset, from the running stack's state file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fraud_mlops.settings import Settings, get_settings


def storage_client(settings: Settings) -> Any:
    from google.cloud import storage

    if not settings.is_local:
        return storage.Client(project=settings.project)
    from google.auth.credentials import AnonymousCredentials

    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        from fraud_mlops.local_stack.config import HOST
        from fraud_mlops.local_stack.stack import StackState

        state = StackState.load(settings)
        if state is None:
            raise RuntimeError("the local stack is not running: start it with `make up`")
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://{HOST}:{state.ports.gcs}"
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
        from fraud_mlops.events.pubsub import notify_object_finalized

        notify_object_finalized(settings, blob._properties)
    return f"gs://{settings.landing_bucket}/{object_name}"
