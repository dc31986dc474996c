"""The feature-sync step the ingestion DAG runs after each snapshot, on either target.

``build_feature_sync`` creates the tasks inside the caller's DAG context and returns the first
and last so the caller can chain them (``snapshot >> first``; ``last`` emits the
``online_features`` asset and returns the sync record as XCom):

* gcp: ``SyncFeatureViewOperator`` → ``FeatureViewSyncSensor`` (reschedule mode, so the wait
  holds no worker slot) → ``record_feature_sync`` (reads Vertex's report of the finished sync).
* local: one ``sync_online_features`` task in the one-slot warehouse pool (it opens the DuckDB
  warehouse read-only; the pool keeps it clear of the writers).

Provider modules are imported inside the builder and the task bodies: DAG files import this
module at parse time and must stay cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import XComArg, task
from airflow.sdk.definitions.xcom_arg import PlainXComArg

from fraud_mlops.assets import online_features
from fraud_mlops.features import FEATURE_ONLINE_STORE_ID, FEATURE_VIEW_ID
from fraud_mlops.settings import get_settings

if TYPE_CHECKING:
    from airflow.sdk.types import Operator

log = logging.getLogger(__name__)

SYNC_POKE_SECONDS = 60
SYNC_TIMEOUT_SECONDS = 3 * 60 * 60
# SyncFeatureViewOperator returns the sync's resource name (…/featureViewSyncs/ID) as XCom.
SYNC_NAME_TEMPLATE = "{{ ti.xcom_pull(task_ids='sync_feature_view') }}"


def build_feature_sync(snapshot_name_template: str) -> tuple[Operator, Operator]:
    """Create the sync tasks in the current DAG; return ``(first_task, last_task)``.

    ``snapshot_name_template`` is rendered at run time (Jinja, e.g.
    ``"{{ ti.xcom_pull(task_ids='create_snapshot')['snapshot'] }}"``) and recorded as the
    sync's source snapshot.
    """
    settings = get_settings()
    if settings.is_local:
        local = _operator(
            sync_online_features.override(pool=settings.warehouse_pool, outlets=[online_features()])(
                snapshot_name_template
            )
        )
        return local, local

    from airflow.providers.google.cloud.operators.vertex_ai.feature_store import SyncFeatureViewOperator
    from airflow.providers.google.cloud.sensors.vertex_ai.feature_store import FeatureViewSyncSensor

    sync_feature_view = SyncFeatureViewOperator(
        task_id="sync_feature_view",
        project_id=settings.project,
        location=settings.region,
        feature_online_store_id=FEATURE_ONLINE_STORE_ID,
        feature_view_id=FEATURE_VIEW_ID,
        gcp_conn_id=settings.gcp_conn_id,
    )
    wait_for_feature_view_sync = FeatureViewSyncSensor(
        task_id="wait_for_feature_view_sync",
        feature_view_sync_name=SYNC_NAME_TEMPLATE,
        location=settings.region,
        gcp_conn_id=settings.gcp_conn_id,
        mode="reschedule",
        poke_interval=SYNC_POKE_SECONDS,
        timeout=SYNC_TIMEOUT_SECONDS,
    )
    record = _operator(
        record_feature_sync.override(outlets=[online_features()])(SYNC_NAME_TEMPLATE, snapshot_name_template)
    )
    sync_feature_view >> wait_for_feature_view_sync >> record
    return sync_feature_view, record


def _operator(output: XComArg) -> Operator:
    """The task behind a TaskFlow call, for chaining with ``>>``."""
    return cast(PlainXComArg, output).operator


# Outlets are attached in build_feature_sync, not here: a decorator argument would freeze the
# asset URI (it names the project) at first import, whatever the settings of later DAGs.
@task(task_id="sync_online_features")
def sync_online_features(source_snapshot: str, outlet_events: Any = None) -> dict[str, Any]:
    """Local: refresh the embedded online store from the warehouse's latest-features view."""
    from fraud_mlops.feature_store.sync import sync_local_online_store

    record = sync_local_online_store(source_snapshot or None)
    log.info(record.summary())
    if outlet_events is not None:
        outlet_events[online_features()].extra = record.to_dict()
    return record.to_dict()


@task(task_id="record_feature_sync")
def record_feature_sync(
    feature_view_sync_name: str, source_snapshot: str, outlet_events: Any = None
) -> dict[str, Any]:
    """gcp: the finished Vertex sync's id, end time and rows synced, as the sync record."""
    from airflow.providers.google.cloud.hooks.vertex_ai.feature_store import FeatureStoreHook

    from fraud_mlops.feature_store.sync import record_from_vertex_sync
    from fraud_mlops.feature_store.vertex import feature_view_source_uri

    settings = get_settings()
    report = FeatureStoreHook(gcp_conn_id=settings.gcp_conn_id).get_feature_view_sync(
        location=settings.region, feature_view_sync_name=feature_view_sync_name
    )
    record = record_from_vertex_sync(report, source_snapshot or None, feature_view_source_uri(settings))
    log.info(record.summary())
    if outlet_events is not None:
        outlet_events[online_features()].extra = record.to_dict()
    return record.to_dict()
