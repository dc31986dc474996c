"""Syncing the online store from the latest-features view, and the record each sync leaves.

Locally the sync copies ``{dataset}.latest_card_features`` into the embedded store. It is
idempotent: a rerun for the same snapshot over unchanged data publishes nothing and returns
the existing record marked ``reused``. On gcp, Vertex AI runs the sync (the provider's
operators start and watch it); :func:`record_from_vertex_sync` turns Vertex's report into the
same :class:`SyncRecord`, so the DAG's XCom and the demo summary read the same on both targets.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.records import ERASURE_SOURCE, SyncRecord
from fraud_mlops.feature_store.source import read_latest_features
from fraud_mlops.settings import Settings, get_settings


def new_sync_id(now: datetime) -> str:
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}_{secrets.token_hex(4)}"


def sync_local_online_store(
    source_snapshot: str | None,
    settings: Settings | None = None,
    store: LocalOnlineStore | None = None,
    now: datetime | None = None,
) -> SyncRecord:
    """Refresh the embedded store from the warehouse's latest-features view (an erasure's sync,
    ``ERASURE_SOURCE``, keeps no earlier version: the erased card is in them)."""
    s = settings or get_settings()
    store = store or LocalOnlineStore(s.online_store_path)
    started = time.perf_counter()
    latest = read_latest_features(s)
    current = store.current_sync()
    erasure = source_snapshot == ERASURE_SOURCE
    if (
        current is not None
        and not erasure  # a retry must drop the earlier versions too
        and current.source_snapshot == source_snapshot
        and current.fingerprint == latest.fingerprint
    ):
        return replace(current, reused=True)
    moment = now or datetime.now(UTC)
    record = SyncRecord(
        sync_id=new_sync_id(moment),
        synced_at=moment.astimezone(UTC).isoformat(timespec="seconds"),
        row_count=latest.row_count,
        source=latest.source,
        source_snapshot=source_snapshot,
        target="local",
        fingerprint=latest.fingerprint,
    )
    return store.publish(latest.row_batches(), record, started=started, forget_earlier=erasure)


class FeatureSyncFailed(RuntimeError):
    """Vertex finished a feature-view sync with an error: the online store kept its old rows."""


def vertex_sync_report(sync: Any) -> dict[str, Any]:
    """A ``FeatureViewSync`` (aiplatform_v1beta1) as ``FeatureStoreHook.get_feature_view_sync``
    reports it, plus ``final_status``, which that report drops: a failed sync also has an end
    time, and the provider's sensor stops on the end time alone."""
    report: dict[str, Any] = {"name": sync.name, "start_time": int(sync.run_time.start_time.seconds)}
    if sync.run_time.end_time.seconds:
        report["end_time"] = int(sync.run_time.end_time.seconds)
        report["sync_summary"] = {
            "row_synced": int(sync.sync_summary.row_synced),
            "total_slot": int(sync.sync_summary.total_slot),
        }
    report["final_status"] = {"code": int(sync.final_status.code), "message": sync.final_status.message}
    return report


def read_vertex_sync(hook: Any, location: str, name: str) -> dict[str, Any]:
    """Vertex's report of the feature-view sync ``name`` (:func:`vertex_sync_report`), read with
    ``hook`` (a ``FeatureStoreHook``) through its admin client: the hook's own
    ``get_feature_view_sync`` drops ``final_status`` and turns every error into an
    ``AirflowException`` with the message only, which hides whether waiting could help."""
    client = hook.get_feature_online_store_admin_service_client(location)
    return vertex_sync_report(client.get_feature_view_sync(name=name))


def record_from_vertex_sync(
    report: Mapping[str, Any], source_snapshot: str | None, source: str
) -> SyncRecord:
    """Sync record from the report of a finished sync (:func:`vertex_sync_report`).

    The report has ``name`` (``…/featureViewSyncs/ID``), ``start_time``/``end_time`` (epoch
    seconds), ``sync_summary.row_synced`` and ``final_status`` (``google.rpc.Status``: code 0 is
    success).
    """
    status = report.get("final_status") or {}
    if status.get("code"):  # before the end time: a sync that failed before it ran may have none
        raise FeatureSyncFailed(
            f"feature view sync {report.get('name')} failed: code {status['code']}: {status.get('message', '')}"
        )
    end = report.get("end_time")
    if not end:
        raise ValueError(f"feature view sync {report.get('name')} has not finished: {dict(report)}")
    start = int(report.get("start_time") or end)
    summary = report.get("sync_summary") or {}
    return SyncRecord(
        sync_id=str(report["name"]).rsplit("/", 1)[-1],
        synced_at=datetime.fromtimestamp(int(end), tz=UTC).isoformat(timespec="seconds"),
        row_count=int(summary.get("row_synced", 0)),
        source=source,
        source_snapshot=source_snapshot,
        target="gcp",
        duration_seconds=float(int(end) - start),
    )
