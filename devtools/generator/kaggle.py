"""Map Kaggle's ``creditcard.csv`` (Time, V1..V28, Amount, Class) into the landing schema.

The Kaggle data has no cards, merchants or wall-clock times. We add them so the file flows
through the same pipeline: transactions are assigned to synthetic cards and merchants, and
``Time`` (seconds from the first transaction) is placed after ``start``. Card-level features
are then weak by construction; the V-components carry Kaggle's real signal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from devtools.generator.synth import CATEGORIES, card_numbers, merchant_names
from fraud_mlops.features import V_COMPONENTS
from fraud_mlops.landing_schema import LANDING_COLUMNS

KAGGLE_COLUMNS = ("Time", *(v.upper() for v in V_COMPONENTS), "Amount", "Class")


def from_kaggle(
    path: Path, seed: int = 7, start: datetime = datetime(2026, 10, 1, tzinfo=UTC)
) -> pd.DataFrame:
    # round_trip: the V-components keep their exact values (pandas 2's default parser may not)
    kaggle = pd.read_csv(path, float_precision="round_trip")
    missing = [c for c in KAGGLE_COLUMNS if c not in kaggle.columns]
    if missing:
        raise ValueError(f"{path} is not Kaggle's creditcard.csv: missing columns {missing}")
    rng = np.random.default_rng(seed)
    n = len(kaggle)
    cards = card_numbers(rng, max(10, n // 25))
    merchants = merchant_names(seed, 800)
    ids = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
    seconds = kaggle["Time"].to_numpy(dtype=np.int64)
    base = np.datetime64(start.replace(tzinfo=None), "s")
    event_time = np.datetime_as_string(base + seconds.astype("timedelta64[s]"), unit="s")
    out = pd.DataFrame(
        {
            "transaction_id": [f"{a:016x}{b:016x}" for a, b in ids],
            "event_time": np.char.replace(event_time, "T", " "),
            "card_number": cards[rng.integers(0, len(cards), n)],
            "merchant": merchants[rng.integers(0, len(merchants), n)],
            "merchant_category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)],
            "time": kaggle["Time"].astype(float),
            **{v: kaggle[v.upper()] for v in V_COMPONENTS},
            "amount": kaggle["Amount"],
            "class": kaggle["Class"].astype(int),
        }
    )
    return out[list(LANDING_COLUMNS)]
