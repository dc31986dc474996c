"""What a sync leaves behind and what a lookup answers, identical on both targets.

A lookup never invents values: an unknown card is listed in :attr:`FeatureLookup.unknown`
instead of being answered with zeros, and a missing feature value stays ``None`` (the model
gets NaN, exactly as in training) rather than a default that would look real.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud_mlops.features import FEATURE_NAMES, STATE_COLUMNS, CardState

#: The source an erasure's sync records (fraud_erase_card, ``make erase-card``): locally such a
#: sync keeps no earlier store version (LocalOnlineStore.publish's ``forget_earlier``).
ERASURE_SOURCE = "erasure"

FeatureValue = float | int | None


class OnlineStoreNotReady(RuntimeError):
    """The online store has never been synced, or its feature view does not exist: there is
    nothing to read from (a 503 for the caller, not an unknown card)."""


class OnlineStoreUnavailable(RuntimeError):
    """The online store did not answer in time, retries included (a 503 the caller may retry)."""


@dataclass(frozen=True)
class SyncRecord:
    """One sync of the online store from the latest-features view.

    ``reused`` is true when a repeated sync found the same snapshot and the same source data
    already published, and therefore changed nothing (idempotent reruns).
    """

    sync_id: str
    synced_at: str  # ISO 8601, UTC
    row_count: int
    source: str
    source_snapshot: str | None
    target: str  # "local" or "gcp"
    fingerprint: str | None = None
    duration_seconds: float | None = None
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def summary(self) -> str:
        """One line for logs and the demo's summary."""
        note = " (unchanged, reused)" if self.reused else ""
        return (
            f"feature sync {self.sync_id}: {self.row_count} cards from {self.source} "
            f"(snapshot {self.source_snapshot}) at {self.synced_at}{note}"
        )


@dataclass(frozen=True)
class FeatureRow:
    """The latest features of one card, as the training SQL computed them, and its serving state.

    ``state`` (:class:`~fraud_mlops.features.CardState`) is what a new transaction's card
    features are computed from; None when the store was synced without it.
    ``feature_timestamp`` only informs (a prediction's ``features.timestamp``): None when the
    store answered none, which fails no prediction.
    """

    entity_id: str
    values: Mapping[str, FeatureValue]
    feature_timestamp: datetime | None
    sync_id: str | None
    state: CardState | None = None

    def vector(self, names: Sequence[str] = FEATURE_NAMES) -> list[float]:
        """Model input in ``names`` order; NaN where the value is missing (as in training)."""
        out: list[float] = []
        for name in names:
            value = self.values[name]
            out.append(math.nan if value is None else float(value))
        return out


@dataclass(frozen=True)
class FeatureLookup:
    """Answer to a many-key lookup: every requested key is either found or unknown."""

    found: Mapping[str, FeatureRow]
    unknown: tuple[str, ...]
    sync_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_from_micros(micros: int) -> datetime:
    """Exact (integer) conversion: float seconds would round some microseconds."""
    return _EPOCH + timedelta(microseconds=micros)


def micros_from_utc(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


STATE_NAMES: tuple[str, ...] = tuple(name for name, _ in STATE_COLUMNS)


def card_state(values: Mapping[str, Any]) -> CardState | None:
    """A :class:`CardState` from the state columns (lists, or JSON text as SQLite keeps them)."""
    import json

    if any(values.get(name) is None for name in STATE_NAMES if name != "previous_time"):
        return None
    decoded: dict[str, Any] = {
        name: json.loads(value) if isinstance(value, str | bytes) else value
        for name, value in ((n, values.get(n)) for n in STATE_NAMES)
    }
    return CardState(
        recent_times=[int(v) for v in decoded["recent_times"]],
        recent_amounts=[float(v) for v in decoded["recent_amounts"]],
        previous_time=None if decoded["previous_time"] is None else int(decoded["previous_time"]),
        merchant_names=[str(v) for v in decoded["merchant_names"]],
        merchant_first_times=[int(v) for v in decoded["merchant_first_times"]],
        merchant_first_counts=[int(v) for v in decoded["merchant_first_counts"]],
    )
