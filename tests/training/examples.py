"""Small synthetic training examples with a known signal, shaped like ``training_examples``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_mlops.features import EVENT_TIME, FEATURE_NAMES, LABEL, TRANSACTION_ID


def make_examples(rows: int = 4000, seed: int = 0, fraud_rate: float = 0.05, shuffle_labels: bool = False):
    """Fraud depends on amount_to_avg_7d, v14 and txn_count_1h; events one minute apart."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in FEATURE_NAMES})
    frame["txn_count_1h"] = rng.poisson(1.0, rows)
    frame.loc[rng.random(rows) < 0.05, "seconds_since_prev_txn"] = np.nan  # first transactions
    logit = 2.2 * frame["amount_to_avg_7d"] - 1.8 * frame["v14"] + 0.6 * frame["txn_count_1h"]
    intercept = np.quantile(logit, 1 - fraud_rate)
    probability = 1 / (1 + np.exp(-(logit - intercept) * 2.5))
    label = (rng.random(rows) < probability).astype("int64")
    if shuffle_labels:
        label = rng.permutation(label)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    frame.insert(0, EVENT_TIME, pd.date_range(start, periods=rows, freq="min", tz="UTC"))
    frame.insert(0, "card_pseudonym", [f"card{i % 97:03d}" for i in range(rows)])
    frame.insert(0, TRANSACTION_ID, [f"t{seed}-{i:06d}" for i in range(rows)])
    frame[LABEL] = label
    frame["oracle_probability"] = probability
    return frame


def write_snapshot(snapshot_dir: Path, name: str, frame: pd.DataFrame) -> Path:
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    path = snapshot_dir / f"{name}.parquet"
    frame.drop(columns=["oracle_probability"]).to_parquet(path, index=False)
    return path
