"""Parity: what serving reads online is exactly the latest row the training SQL computed.

Runs the project's real ingestion SQL (``include/sql/``) on generated landing data, syncs the
online store, then looks cards up the way the prediction function does (card number →
keyed pseudonym in Python → online store) and compares with the latest ``card_features`` row
of each card, picked independently in pandas.
"""

from __future__ import annotations

import math

import pandas as pd

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.feature_store.local_store import LocalOnlineStore
from fraud_mlops.feature_store.sync import sync_local_online_store
from fraud_mlops.features import ENTITY_KEY, EVENT_TIME, FEATURE_NAMES, TRANSACTION_ID
from fraud_mlops.settings import Settings

from .helpers import read_table, run_ingestion_sql


def test_online_features_equal_the_latest_offline_features(local_settings: Settings, pseudonymise) -> None:
    landing = generate(GeneratorConfig(rows=5000, rows_per_card=10, seed=11)).landing
    run_ingestion_sql(local_settings, landing)

    record = sync_local_online_store("training_snapshot_parity", local_settings)

    offline = read_table(
        local_settings,
        f"SELECT {TRANSACTION_ID}, {ENTITY_KEY}, {EVENT_TIME}, {', '.join(FEATURE_NAMES)} "
        "FROM fraud.card_features",
    )
    latest = (
        offline.sort_values([ENTITY_KEY, EVENT_TIME, TRANSACTION_ID])
        .groupby(ENTITY_KEY)
        .tail(1)
        .set_index(ENTITY_KEY)
    )
    assert record.row_count == len(latest) == landing["card_number"].nunique()

    store = LocalOnlineStore(local_settings.online_store_path)
    cards = landing["card_number"].drop_duplicates().sample(60, random_state=5)
    compared = 0
    for card in cards:
        online = store.fetch_one(pseudonymise(card))
        assert online is not None, "a landed card must be found online"
        expected = latest.loc[online.entity_id]
        assert online.feature_timestamp == pd.Timestamp(expected[EVENT_TIME]).to_pydatetime()
        for name in FEATURE_NAMES:
            want, got = expected[name], online.values[name]
            if pd.isna(want):
                assert got is None, name
            else:
                assert got == want and not (isinstance(got, float) and math.isnan(got)), name
            compared += 1
    assert compared == 60 * len(FEATURE_NAMES)
    nulls = latest[list(FEATURE_NAMES)].isna().to_numpy().sum()
    assert nulls > 0, "the sample should include cards with missing history features"

    assert store.fetch_one(pseudonymise("4000 0000 0000 0002")) is None
