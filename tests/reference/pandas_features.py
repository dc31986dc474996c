"""An independent pandas implementation of the card features, for golden tests and the bench.

Written from the feature definitions' prose, not from the SQL: the history is time-based over
each card's *earlier* transactions (the row's own second excluded), and the row itself is then
added to counts, sums, means and the merchants seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def card_features(staging: pd.DataFrame) -> pd.DataFrame:
    """``staging``: transaction_id, card_pseudonym, event_time (UTC), merchant, amount, v*, is_fraud."""
    df = staging.sort_values(["card_pseudonym", "event_time", "transaction_id"]).reset_index(drop=True)
    df["event_time"] = pd.to_datetime(df["event_time"], utc=True)
    df["amount"] = df["amount"].astype(float)
    df["ts"] = (df["event_time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    out = df[["transaction_id", "card_pseudonym", "event_time", "amount"]].copy()
    out["hour_of_day"] = df["event_time"].dt.hour
    out["day_of_week"] = (df["event_time"].dt.dayofweek + 1) % 7 + 1  # BigQuery: Sunday = 1
    for v in [c for c in df.columns if c.startswith("v") and c[1:].isdigit()]:
        out[v] = df[v]

    first_at_merchant = df.groupby(["card_pseudonym", "merchant"])["ts"].transform("min")
    out["is_new_merchant"] = (df["ts"] == first_at_merchant).astype(int)

    # Sums over earlier seconds only: cumulative per (card, second), shifted by one second group.
    results = {name: np.zeros(len(df)) for name in (
        "merchants_seen", "seconds_since_prev_txn", "txn_count_1h", "txn_count_24h", "txn_count_7d",
        "amount_sum_1h", "amount_sum_24h", "amount_avg_7d",
    )}  # fmt: skip
    ts_all = df["ts"].to_numpy()
    amount_all = df["amount"].to_numpy()
    new_all = out["is_new_merchant"].to_numpy()
    for _, idx in df.groupby("card_pseudonym").indices.items():
        ts = ts_all[idx]
        amount = amount_all[idx]
        new = new_all[idx]
        cum_n = np.concatenate([[0], np.arange(1, len(ts) + 1)])
        cum_amount = np.concatenate([[0.0], np.cumsum(amount)])
        cum_new = np.concatenate([[0], np.cumsum(new)])
        before = np.searchsorted(ts, ts, side="left")  # rows strictly earlier than this second

        def window(
            seconds: int, cum: np.ndarray, ts: np.ndarray = ts, before: np.ndarray = before
        ) -> np.ndarray:
            start = np.searchsorted(ts, ts - seconds, side="left")
            return cum[before] - cum[start]

        results["merchants_seen"][idx] = cum_new[before] + new
        prev = np.where(before > 0, ts[np.maximum(before - 1, 0)], np.nan)
        results["seconds_since_prev_txn"][idx] = ts - prev
        results["txn_count_1h"][idx] = window(3600, cum_n) + 1
        results["txn_count_24h"][idx] = window(86400, cum_n) + 1
        results["txn_count_7d"][idx] = window(604800, cum_n) + 1
        results["amount_sum_1h"][idx] = window(3600, cum_amount) + amount
        results["amount_sum_24h"][idx] = window(86400, cum_amount) + amount
        n7 = window(604800, cum_n) + 1
        results["amount_avg_7d"][idx] = (window(604800, cum_amount) + amount) / n7
    for name, values in results.items():
        out[name] = values
    with np.errstate(invalid="ignore", divide="ignore"):
        out["amount_to_avg_7d"] = np.where(
            out["amount_avg_7d"] != 0, out["amount"] / out["amount_avg_7d"], 1.0
        )
    out["is_fraud"] = df["is_fraud"].astype(int)
    return out
