"""The feature-store seam: an online reader for serving and the sync tasks for the DAGs.

Two implementations, chosen once by :mod:`fraud_mlops.targets`: Vertex AI Feature Store on gcp
(:class:`.vertex.VertexFeatureStore`) and the embedded SQLite store locally
(:class:`.local.LocalFeatureStore`). Both serve the same feature view source, the warehouse's
``latest_card_features``, and both leave the same :class:`.records.SyncRecord` as XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from fraud_mlops.feature_store.records import FeatureLookup, FeatureRow


class OnlineFeatureReader(Protocol):
    def fetch_one(self, entity_id: str) -> FeatureRow | None: ...

    def fetch(self, entity_ids: Sequence[str]) -> FeatureLookup: ...


class FeatureStore(Protocol):
    #: What a sync leaves of a card the source no longer holds (right to erasure), and what it
    #: takes to remove it; ``None`` when the sync removes it.
    erasure_gap: str | None

    def reader(self) -> OnlineFeatureReader:
        """Online lookups by card pseudonym (never card numbers)."""
        ...

    def sync_operators(self, source_snapshot: Any) -> tuple[Any, Any]:
        """Create the sync tasks in the current DAG; return ``(first, last)``.

        ``source_snapshot`` (an ``XComArg`` or a string) is recorded as the sync's source;
        ``last`` emits the ``fraud_online_features`` Asset and returns the
        :class:`.records.SyncRecord` as a dict.
        """
        ...
