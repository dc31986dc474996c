"""The online lookup API: the same two calls on both targets.

``fetch_one(key)`` returns the card's :class:`FeatureRow` or ``None`` for a card the store does
not know; ``fetch(keys)`` returns a :class:`FeatureLookup` listing found and unknown keys. Keys
are card pseudonyms (:func:`fraud_mlops.pseudonym.pseudonymise`), never card numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fraud_mlops.feature_store.records import FeatureLookup, FeatureRow
from fraud_mlops.settings import Settings, get_settings


class OnlineFeatureReader(Protocol):
    def fetch_one(self, entity_id: str) -> FeatureRow | None: ...

    def fetch(self, entity_ids: Sequence[str]) -> FeatureLookup: ...


def open_online_store(settings: Settings | None = None) -> OnlineFeatureReader:
    """The active target's online store: the embedded SQLite store or Vertex's."""
    s = settings or get_settings()
    if s.is_local:
        from fraud_mlops.feature_store.local_store import LocalOnlineStore

        return LocalOnlineStore(s.online_store_path)
    from fraud_mlops.feature_store.vertex import VertexOnlineStore

    return VertexOnlineStore(s)


def fetch_features(entity_ids: Sequence[str], settings: Settings | None = None) -> FeatureLookup:
    """Convenience for scripts and the demo: one call, one consistent version."""
    return open_online_store(settings).fetch(entity_ids)
