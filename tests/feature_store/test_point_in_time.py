"""Point-in-time correctness of the training features: no row sees its own second's others or its future.

A hand-made timeline for two cards goes through the project's real ingestion SQL; every
expected value below was worked out by hand from the timeline, including the edges: two
transactions in the same second (neither sees the other; each counts itself), a transaction exactly one hour and
exactly one day after another (inside the window), and another card's activity (ignored).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from fraud_mlops.features import CARD_FEATURES, FEATURE_NAMES, TRANSACTION_ID, V_COMPONENTS
from fraud_mlops.landing_schema import LANDING_COLUMNS
from fraud_mlops.settings import Settings

from .helpers import read_table, run_ingestion_sql

CARD_A = "4111 1111 1111 1111"
CARD_B = "5555555555554444"
CARD_C = "6011111111111117"

# (id, card, event time UTC, merchant, amount)
TIMELINE = [
    ("a1", CARD_A, "2026-10-05 10:00:00", "M1", 100.0),
    ("a2", CARD_A, "2026-10-05 10:00:00", "M2", 50.0),  # same second as a1
    ("b1", CARD_B, "2026-10-05 10:15:00", "M1", 999.0),  # another card
    ("a3", CARD_A, "2026-10-05 10:30:00", "M1", 20.0),
    ("a4", CARD_A, "2026-10-05 11:30:00", "M3", 10.0),  # exactly 1 h after a3
    ("a5", CARD_A, "2026-10-06 11:30:00", "M1", 40.0),  # exactly 24 h after a4
    ("c1", CARD_C, "2026-10-05 12:00:00", "M1", 0.0),  # a card of zero amounts: a zero mean
    ("c2", CARD_C, "2026-10-05 12:10:00", "M2", 0.0),
]
NULL = None
# Card features of every row: the history is [t - window, t - 1 s] (strictly earlier seconds),
# then the row itself is added to counts, sums, the 7-day mean and the merchants seen.
EXPECTED: dict[str, dict[str, Any]] = {
    "a1": dict(is_new_merchant=1, merchants_seen=1, seconds_since_prev_txn=NULL,
               txn_count_1h=1, txn_count_24h=1, txn_count_7d=1,
               amount_sum_1h=100.0, amount_sum_24h=100.0, amount_avg_7d=100.0, amount_to_avg_7d=1.0),
    "a2": dict(is_new_merchant=1, merchants_seen=1, seconds_since_prev_txn=NULL,
               txn_count_1h=1, txn_count_24h=1, txn_count_7d=1,
               amount_sum_1h=50.0, amount_sum_24h=50.0, amount_avg_7d=50.0, amount_to_avg_7d=1.0),
    "b1": dict(is_new_merchant=1, merchants_seen=1, seconds_since_prev_txn=NULL,
               txn_count_1h=1, txn_count_24h=1, txn_count_7d=1,
               amount_sum_1h=999.0, amount_sum_24h=999.0, amount_avg_7d=999.0, amount_to_avg_7d=1.0),
    "a3": dict(is_new_merchant=0, merchants_seen=2, seconds_since_prev_txn=1800.0,
               txn_count_1h=3, txn_count_24h=3, txn_count_7d=3,
               amount_sum_1h=170.0, amount_sum_24h=170.0, amount_avg_7d=170 / 3, amount_to_avg_7d=60 / 170),
    "a4": dict(is_new_merchant=1, merchants_seen=3, seconds_since_prev_txn=3600.0,
               txn_count_1h=2, txn_count_24h=4, txn_count_7d=4,
               amount_sum_1h=30.0, amount_sum_24h=180.0, amount_avg_7d=45.0,
               amount_to_avg_7d=10 / 45),
    "a5": dict(is_new_merchant=0, merchants_seen=3, seconds_since_prev_txn=86400.0,
               txn_count_1h=1, txn_count_24h=2, txn_count_7d=5,
               amount_sum_1h=40.0, amount_sum_24h=50.0, amount_avg_7d=44.0, amount_to_avg_7d=40 / 44),
    # the amount is its (zero) mean: 1, not NULL (features.RATIO_WHEN_ALL_ZERO)
    "c1": dict(is_new_merchant=1, merchants_seen=1, seconds_since_prev_txn=NULL,
               txn_count_1h=1, txn_count_24h=1, txn_count_7d=1,
               amount_sum_1h=0.0, amount_sum_24h=0.0, amount_avg_7d=0.0, amount_to_avg_7d=1.0),
    "c2": dict(is_new_merchant=1, merchants_seen=2, seconds_since_prev_txn=600,
               txn_count_1h=2, txn_count_24h=2, txn_count_7d=2,
               amount_sum_1h=0.0, amount_sum_24h=0.0, amount_avg_7d=0.0, amount_to_avg_7d=1.0),
}  # fmt: skip


def _landing(timeline: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    rows = []
    for tx_id, card, at, merchant, amount in timeline:
        row: dict[str, Any] = dict.fromkeys(LANDING_COLUMNS, "0")
        row.update(
            transaction_id=tx_id,
            event_time=at,
            card_number=card,
            merchant=merchant,
            merchant_category="grocery",
            amount=f"{amount:.2f}",
            **{"class": "0"},
        )
        row.update({v: "0.5" for v in V_COMPONENTS})
        rows.append(row)
    return pd.DataFrame(rows, columns=list(LANDING_COLUMNS))


def _features(settings: Settings) -> pd.DataFrame:
    return read_table(
        settings, f"SELECT {TRANSACTION_ID}, {', '.join(FEATURE_NAMES)} FROM fraud.training_examples"
    ).set_index(TRANSACTION_ID)


def _same(got: Any, want: Any) -> bool:
    if want is None:
        return bool(pd.isna(got))
    return not pd.isna(got) and math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=0.0)


@pytest.fixture
def timeline_features(local_settings: Settings) -> pd.DataFrame:
    run_ingestion_sql(local_settings, _landing(TIMELINE))
    return _features(local_settings)


def test_card_features_follow_the_hand_computed_timeline(timeline_features: pd.DataFrame) -> None:
    assert sorted(timeline_features.index) == sorted(EXPECTED)
    mismatches = [
        f"{tx}.{name}: got {timeline_features.loc[tx, name]!r}, want {want!r}"
        for tx, expected in EXPECTED.items()
        for name, want in expected.items()
        if not _same(timeline_features.loc[tx, name], want)
    ]
    assert mismatches == []
    assert set(EXPECTED["a1"]) == set(CARD_FEATURES)


def test_transaction_features_describe_the_row_itself(timeline_features: pd.DataFrame) -> None:
    a1 = timeline_features.loc["a1"]
    assert (a1["amount"], a1["hour_of_day"]) == (100.0, 10)
    assert a1["day_of_week"] == 2  # 2026-10-05 is a Monday: BigQuery DAYOFWEEK counts Sunday as 1
    assert timeline_features.loc["a5", "day_of_week"] == 3


def test_later_transactions_never_change_earlier_rows(local_settings: Settings) -> None:
    future = [
        ("a6", CARD_A, "2026-10-06 11:30:00", "M9", 5000.0),  # same second as a5
        ("a7", CARD_A, "2026-10-06 11:30:01", "M9", 7000.0),
        ("b2", CARD_B, "2026-10-06 12:00:00", "M1", 1.0),
    ]
    run_ingestion_sql(local_settings, _landing(TIMELINE + future))
    with_future = _features(local_settings)
    for tx, expected in EXPECTED.items():
        for name, want in expected.items():
            assert _same(with_future.loc[tx, name], want), f"{tx}.{name} changed when the future arrived"
    a7 = with_future.loc["a7"]
    assert (a7["txn_count_1h"], a7["amount_sum_1h"]) == (3, 12040.0)  # a5 and a6 one second earlier, and a7
