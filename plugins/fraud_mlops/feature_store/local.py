"""The local target's feature store: the embedded SQLite store, synced from the DuckDB warehouse.

One task does the sync (:func:`sync_online_features`): it reads the latest-features view
read-only and publishes a new store version atomically, in the one-slot warehouse pool so it
never meets a writer of the DuckDB file. Airflow is imported only by
:meth:`LocalFeatureStore.sync_operators`: the prediction function reads the store through
:meth:`LocalFeatureStore.reader` and runs without Airflow, as on Cloud Functions.
"""

from __future__ import annotations

import logging
from typing import Any

from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.settings import Settings

log = logging.getLogger(__name__)


class LocalFeatureStore:
    #: A sync writes a new version from the source, so an erased card is gone from it; an
    #: erasure's sync keeps no earlier version (LocalOnlineStore.publish's forget_earlier).
    erasure_gap: str | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def reader(self) -> LocalOnlineStore:
        return LocalOnlineStore(self.settings.online_store_path)

    def sync_operators(self, source_snapshot: Any) -> tuple[Any, Any]:
        """One task, first and last at once."""
        from airflow.sdk import task

        from fraud_mlops.assets import online_features

        # Outlets are given here, not in a module-level decorator: that would freeze the asset
        # URI (it names the project) at first import, whatever the settings of later DAGs.
        sync_task = task(
            task_id="sync_online_features", pool=self.settings.warehouse_pool, outlets=[online_features()]
        )(sync_online_features)
        operator = sync_task(source_snapshot).operator  # type: ignore[attr-defined]  # a PlainXComArg
        return operator, operator


def sync_online_features(source_snapshot: str, outlet_events: Any = None) -> dict[str, Any]:
    """Refresh the embedded online store from the warehouse's latest-features view."""
    from fraud_mlops.assets import online_features
    from fraud_mlops.feature_store.sync import sync_local_online_store

    record = sync_local_online_store(source_snapshot or None)
    log.info(record.summary())
    if outlet_events is not None:
        outlet_events[online_features()].extra = record.to_dict()
    return record.to_dict()
