"""Vertex AI Feature Store (gcp target): resource names, the feature view's spec, online reads.

The feature view serves ``{project}.{dataset}.latest_card_features`` directly (a BigQuery
source with one row per card, entity id column ``card_pseudonym``). :class:`VertexFeatureStore`
builds the Airflow tasks that start and watch its syncs. Reads go through the GA
``FeatureOnlineStoreServiceClient.fetch_feature_values``; a card the view does not hold comes
back as gRPC NOT_FOUND, which this module answers as "unknown", never as zeros.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from fraud_mlops.feature_store.records import (
    FeatureLookup,
    FeatureRow,
    FeatureValue,
    OnlineStoreNotReady,
    OnlineStoreUnavailable,
    card_state,
    utc_from_micros,
)
from fraud_mlops.features import (
    EVENT_TIME,
    FEATURE_NAMES,
    FEATURE_ONLINE_STORE_ID,
    FEATURE_VIEW_ID,
    FEATURES,
    LATEST_FEATURES_VIEW,
)
from fraud_mlops.retries import serving_retry, unanswered_errors
from fraud_mlops.settings import Settings

log = logging.getLogger(__name__)

#: How long one process trusts that the feature view exists (or does not) before asking again.
VIEW_CHECK_SECONDS = 60.0

# Names under which a Vertex response may carry the row's timestamp, most specific first.
_TIMESTAMP_FEATURES = ("feature_timestamp", EVENT_TIME)
_INT_FEATURES = frozenset(f.name for f in FEATURES if f.bq_type == "INT64")


def online_store_resource(settings: Settings) -> str:
    return (
        f"projects/{settings.project}/locations/{settings.region}"
        f"/featureOnlineStores/{FEATURE_ONLINE_STORE_ID}"
    )


def feature_view_resource(settings: Settings) -> str:
    return f"{online_store_resource(settings)}/featureViews/{FEATURE_VIEW_ID}"


def feature_view_source_uri(settings: Settings) -> str:
    return f"bq://{settings.project}.{settings.dataset}.{LATEST_FEATURES_VIEW}"


def parse_feature_value(value: Any) -> FeatureValue | str | datetime | list[Any]:
    """One ``FeatureValue`` proto → Python; an unset value (BigQuery NULL) → None.

    The card's serving state arrives as arrays (``int64_array_value``, ``double_array_value``,
    ``string_array_value``: BigQuery ARRAY columns of the feature view's source) → lists.
    """
    kind = type(value).pb(value).WhichOneof("value")
    if kind is None:
        return None
    raw = getattr(value, kind)
    if kind == "int64_value":
        return int(raw)
    if kind == "double_value":
        return float(raw)
    if kind.endswith("_array_value"):
        return list(raw.values)
    return raw  # type: ignore[no-any-return]


def _timestamp(pairs: dict[str, Any], raw: Sequence[Any]) -> datetime | None:
    """The row's time: its timestamp column, else Vertex's write time, else ``None`` (no Vertex
    document says a fetch carries either; the time only informs, so its absence fails nothing)."""
    for name in _TIMESTAMP_FEATURES:
        value = pairs.get(name)
        if isinstance(value, int):
            return utc_from_micros(value)
        if isinstance(value, str) and (parsed := _text_timestamp(value)) is not None:
            return parsed
        if isinstance(value, datetime):
            return value.astimezone(UTC)
    for pair in raw:  # Vertex's own write time, when the view carries no timestamp column
        generate_time = pair.value.metadata.generate_time
        if generate_time:
            return generate_time.astimezone(UTC)  # type: ignore[no-any-return]
    return None


def _text_timestamp(text: str) -> datetime | None:
    """A timestamp as text: RFC 3339 or BigQuery's own ``2025-11-22 08:26:40.123456 UTC``.

    How the view's TIMESTAMP comes back is not documented (``FeatureValue`` has no timestamp
    type); text nobody can read falls back to Vertex's write time rather than failing a lookup.
    """
    cleaned = text.strip().removesuffix(" UTC").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


class VertexOnlineStore:
    """Reads the card feature view of the Vertex Feature Online Store.

    ``FetchFeatureValues`` answers ``NOT_FOUND`` both for a key the view lacks and for a view
    (or store) that does not exist; an unknown card is then told from a missing view by asking
    for the view itself (``GetFeatureView``, at most once a minute per process), so a wrong
    view id or a deleted view answers 503 ``feature_store_not_ready``, not 404 for every card.
    ``PERMISSION_DENIED`` (a view deleted with its grant: Vertex answers so for a resource the
    caller may not see, "or it may not exist") is the same 503. A view that exists but was never
    synced cannot be told from it: every card is unknown until the first sync.
    A ``503 UNAVAILABLE`` is retried within the lookup's own timeout (:func:`serving_retry`).
    """

    def __init__(
        self,
        settings: Settings,
        client: Any | None = None,
        api_endpoint: str | None = None,
        timeout_seconds: float = 2.0,
        admin_client: Any | None = None,
    ) -> None:
        self.settings = settings
        self.feature_view = feature_view_resource(settings)
        self.timeout_seconds = timeout_seconds
        self._api_endpoint = api_endpoint or f"{settings.region}-aiplatform.googleapis.com"
        self._client = client
        self._admin_client = admin_client
        self._view_checked: tuple[float, bool] | None = None  # (monotonic time, view readable)
        self._view_lock = threading.Lock()  # fetch() looks up keys from a thread pool

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import aiplatform_v1

            self._client = aiplatform_v1.FeatureOnlineStoreServiceClient(
                client_options={"api_endpoint": self._api_endpoint}
            )
        return self._client

    @property
    def admin_client(self) -> Any:
        if self._admin_client is None:
            from google.cloud import aiplatform_v1

            self._admin_client = aiplatform_v1.FeatureOnlineStoreAdminServiceClient(
                client_options={"api_endpoint": self._api_endpoint}
            )
        return self._admin_client

    def ensure_view_exists(self) -> None:
        """Raise :class:`OnlineStoreNotReady` if the feature view does not exist, or this
        identity may not read it (checked at most once a minute per process)."""
        from google.api_core import exceptions

        with self._view_lock:
            now = time.monotonic()
            if self._view_checked is None or now - self._view_checked[0] >= VIEW_CHECK_SECONDS:
                try:
                    self.admin_client.get_feature_view(
                        name=self.feature_view,
                        retry=serving_retry(self.timeout_seconds),
                        timeout=self.timeout_seconds,
                    )
                    readable = True
                except (exceptions.NotFound, exceptions.PermissionDenied):
                    readable = False
                except unanswered_errors() as exc:
                    raise OnlineStoreUnavailable(f"{self.feature_view}: {exc}") from exc
                self._view_checked = (now, readable)
            readable = self._view_checked[1]
        if not readable:
            raise OnlineStoreNotReady(
                f"feature view {self.feature_view} does not exist or this identity may not read it:"
                " create it and its grant (infra/, create_feature_view), then let an ingestion run sync it"
            )

    def request_for(self, entity_id: str) -> Any:
        from google.cloud import aiplatform_v1

        return aiplatform_v1.FetchFeatureValuesRequest(
            feature_view=self.feature_view,
            data_key=aiplatform_v1.FeatureViewDataKey(key=entity_id),
            data_format=aiplatform_v1.FeatureViewDataFormat.KEY_VALUE,
        )

    def fetch_one(self, entity_id: str) -> FeatureRow | None:
        from google.api_core import exceptions

        try:
            response = self.client.fetch_feature_values(
                request=self.request_for(entity_id),
                retry=serving_retry(self.timeout_seconds),
                timeout=self.timeout_seconds,
            )
        except exceptions.NotFound:
            self.ensure_view_exists()
            return None
        except exceptions.PermissionDenied as exc:  # a view deleted with its grant answers this
            raise OnlineStoreNotReady(f"{self.feature_view}: {exc}") from exc
        except unanswered_errors() as exc:
            raise OnlineStoreUnavailable(f"{self.feature_view}: {exc}") from exc
        raw = list(response.key_values.features)
        pairs = {pair.name: parse_feature_value(pair.value) for pair in raw}
        if not pairs.keys() & set(FEATURE_NAMES):
            # a feature absent from an answer is a NULL, the model's NaN; all of them absent is a
            # view whose columns are not the model's (renamed, dropped), not a card of NaNs
            raise OnlineStoreNotReady(
                f"{self.feature_view}: its answer holds none of the model's features, only "
                f"{sorted(pairs)}: the view's source is not the latest-features table"
            )
        values: dict[str, FeatureValue] = {}
        for name in FEATURE_NAMES:
            value = pairs.get(name)
            if value is not None and not isinstance(value, int | float):
                raise TypeError(f"feature {name} came back as {type(value).__name__}")
            if isinstance(value, float) and name in _INT_FEATURES and value.is_integer():
                value = int(value)
            values[name] = value
        return FeatureRow(
            entity_id=entity_id,
            values=values,
            feature_timestamp=_timestamp(pairs, raw),
            sync_id=None,
            state=card_state(pairs),
        )

    def fetch(self, entity_ids: Sequence[str]) -> FeatureLookup:
        """``FetchFeatureValues`` takes one key per call: run a few calls concurrently."""
        wanted = list(dict.fromkeys(entity_ids))
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(wanted)))) as pool:
            rows = list(pool.map(self.fetch_one, wanted))
        found = {key: row for key, row in zip(wanted, rows, strict=True) if row is not None}
        return FeatureLookup(found=found, unknown=tuple(k for k in wanted if k not in found))


SYNC_POKE_SECONDS = 60
SYNC_TIMEOUT_SECONDS = 3 * 60 * 60


class VertexFeatureStore:
    """Vertex AI Feature Store: online reads, and syncs started and watched by the provider's operators.

    Sync: ``SyncFeatureViewOperator`` → ``FeatureViewSyncDoneSensor`` (the provider's sensor,
    failing on errors no wait changes; reschedule mode, so the wait holds no worker slot) →
    ``record_feature_sync`` (reads Vertex's report of the finished sync).
    """

    #: "If your online store instance uses Bigtable online serving, the feature records that you
    #: delete from the BigQuery source table are retained in the corresponding feature views
    #: until you delete those feature views" (https://cloud.google.com/vertex-ai/docs/featurestore/latest/delete-featureview),
    #: and the API deletes no single entity: an erased card keeps being served until the view is
    #: recreated (docs/least_privilege.md, "Right to erasure", says how).
    erasure_gap: str | None = (
        "the Bigtable online store keeps the card's last synced record after the sync: recreate the "
        "feature view to remove it (docs/least_privilege.md, 'Right to erasure')"
    )

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def reader(self) -> VertexOnlineStore:
        return VertexOnlineStore(self.settings)

    def sync_operators(self, source_snapshot: Any) -> tuple[Any, Any]:
        from airflow.providers.google.cloud.operators.vertex_ai.feature_store import SyncFeatureViewOperator
        from airflow.sdk import task

        from fraud_mlops.assets import online_features
        from fraud_mlops.feature_store.vertex_sync_sensor import FeatureViewSyncDoneSensor

        s = self.settings
        sync_feature_view = SyncFeatureViewOperator(
            task_id="sync_feature_view",
            project_id=s.project,
            location=s.region,
            feature_online_store_id=FEATURE_ONLINE_STORE_ID,
            feature_view_id=FEATURE_VIEW_ID,
            gcp_conn_id=s.gcp_conn_id,
        )
        # The operator returns the sync's resource name (…/featureViewSyncs/ID) as XCom.
        sync_name: Any = sync_feature_view.output
        wait_for_feature_view_sync = FeatureViewSyncDoneSensor(
            task_id="wait_for_feature_view_sync",
            feature_view_sync_name=sync_name,
            location=s.region,
            gcp_conn_id=s.gcp_conn_id,
            mode="reschedule",
            poke_interval=SYNC_POKE_SECONDS,
            timeout=SYNC_TIMEOUT_SECONDS,
        )
        record_task = task(task_id="record_feature_sync", outlets=[online_features()])(record_feature_sync)
        record = record_task(sync_name, source_snapshot).operator  # type: ignore[attr-defined]  # a PlainXComArg
        sync_feature_view >> wait_for_feature_view_sync >> record
        return sync_feature_view, record


def record_feature_sync(
    feature_view_sync_name: str, source_snapshot: str, outlet_events: Any = None
) -> dict[str, Any]:
    """The finished Vertex sync's id, end time and rows synced, as the sync record.

    A sync Vertex finished with an error fails the task without retries (a retry would read the
    same sync) and emits no ``online_features`` event: the store still holds the old rows
    (``read_vertex_sync`` keeps the sync's ``final_status``).
    """
    from airflow.providers.google.cloud.hooks.vertex_ai.feature_store import FeatureStoreHook
    from airflow.sdk.exceptions import AirflowFailException

    from fraud_mlops.assets import online_features
    from fraud_mlops.feature_store.sync import FeatureSyncFailed, read_vertex_sync, record_from_vertex_sync
    from fraud_mlops.settings import get_settings

    settings = get_settings()
    hook = FeatureStoreHook(gcp_conn_id=settings.gcp_conn_id)
    report = read_vertex_sync(hook, settings.region, feature_view_sync_name)
    try:
        record = record_from_vertex_sync(report, source_snapshot or None, feature_view_source_uri(settings))
    except FeatureSyncFailed as err:
        raise AirflowFailException(f"{err}; not retried: rerun the sync") from err
    log.info(record.summary())
    if outlet_events is not None:
        outlet_events[online_features()].extra = record.to_dict()
    return record.to_dict()
