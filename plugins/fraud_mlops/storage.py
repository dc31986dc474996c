"""The storage seam: Cloud Storage through the Google provider's ``GCSHook``, on both targets.

There is one implementation. Locally the GCS emulator stands in for Cloud Storage and the hook
reaches it unchanged (an anonymous ``google_cloud_platform`` connection plus
``STORAGE_EMULATOR_HOST``, set by the local stack), so the landing, quarantine and archive code
that runs locally is the code Composer runs: nothing here tests the target.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook


def gcs_hook(settings: Settings) -> GCSHook:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    return GCSHook(gcp_conn_id=settings.gcp_conn_id)


def split_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` → ``("bucket", "a/b")``."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


class ObjectChanged(RuntimeError):
    """A landed object was replaced or removed after validation read it."""


def require_generation(hook: GCSHook, uri: str, generation: str) -> None:
    """Raise :class:`ObjectChanged` unless ``uri``'s live generation is still ``generation``.

    For a load that reads an object by name (a BigQuery load job takes no generation: "if you
    include a generation number in the Cloud Storage URI, then the load job fails"), called
    after the load has read it: generations only grow, so the same live generation means the
    load read the bytes validation checked, not a producer's overwrite under the same name.
    """
    bucket, name = split_uri(uri)
    blob = hook.get_conn().bucket(bucket).get_blob(name)
    live = None if blob is None else str(blob.generation)
    if live != generation:
        change = "removed" if live is None else f"overwritten (generation {generation} → {live})"
        raise ObjectChanged(
            f"{uri} was {change} after validation read it, so its load may hold other bytes: it is "
            "not appended; the run fails, and the next run validates what is there now"
        )


def download_objects(settings: Settings, prefix_uri: str, names: Iterable[str], folder: Path) -> Path:
    """Download ``prefix_uri/<name>`` for each name into ``folder``; returns ``folder``."""
    bucket, prefix = split_uri(prefix_uri)
    hook = gcs_hook(settings)
    for name in names:
        hook.download(
            bucket_name=bucket, object_name=f"{prefix.rstrip('/')}/{name}", filename=str(folder / name)
        )
    return folder
