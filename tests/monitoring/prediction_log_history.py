"""A prediction log with days of online answers, appended by 83_prediction_log.sql on the real
local warehouse: for the partition tests and bench/bench_monitoring_bytes.py."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from fraud_mlops import targets
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.settings import Settings


def log_history(settings: Settings, first_day: datetime, days: int, answers_per_day: int) -> None:
    """``answers_per_day`` online answers (full feature vectors) on each of ``days`` days."""
    rng = random.Random(0)
    warehouse = targets.warehouse(settings)
    step = timedelta(days=1) / answers_per_day
    for day in range(days):
        start = first_day + timedelta(days=day)
        rows = [
            records.record(
                request_id=f"{start:%Y%m%d}-{i}",
                source=records.ONLINE,
                status=200,
                logged_at=start + step * i,
                card_pseudonym=f"card{rng.randrange(1_000):04d}",
                vector=[rng.gauss(0.0, 1.0) for _ in FEATURE_NAMES],
                score=rng.random(),
                threshold=0.5,
                model={"name": "fraud-detector", "version": "1", "deployed_model_id": "fraud-detector-v1"},
                latency_ms=rng.uniform(2.0, 9.0),
            )
            for i in range(answers_per_day)
        ]
        warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(rows))
        append_staged(warehouse, settings)
