"""The one feature definition: entity key, feature names, types, sources and freshness.

Everything that needs the feature list takes it from here: the SQL templates (the training
table and the latest-features view select ``feature_columns``), the feature-store sync, the
training dataset and the serving lookup. A test checks that the SQL's output columns match.

Two kinds of features:

* ``transaction`` features describe the transaction being scored. At serving time a request
  may carry them (amount, time, the V-components); otherwise the card's latest values are used.
* ``card`` features are point-in-time aggregates of the card's *earlier* transactions
  (strictly before the row's event time, so no row sees its own future). Serving reads them
  from the online store: the latest values the training SQL computed for the card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["transaction", "card"]

ENTITY_KEY = "card_pseudonym"
EVENT_TIME = "event_time"
LABEL = "is_fraud"
TRANSACTION_ID = "transaction_id"

FEATURES_TABLE = "card_features"  # every transaction with its point-in-time features
TRAINING_TABLE = "training_examples"  # features + label + event time, input of snapshots
LATEST_FEATURES_VIEW = "latest_card_features"  # one row per card: the feature view's source
FEATURE_VIEW_FRESHNESS = "24h"  # the ingestion DAGs re-sync at least daily
FEATURE_ONLINE_STORE_ID = "fraud_online_store"  # Vertex Feature Online Store (gcp)
FEATURE_VIEW_ID = "card_features"  # its feature view over LATEST_FEATURES_VIEW
BATCH_INPUT_TABLE = "batch_prediction_input"  # batch scoring: latest features, one row per card
BATCH_OUTPUT_TABLE = "batch_prediction_output"  # batch prediction's output: input + prediction


@dataclass(frozen=True)
class Feature:
    name: str
    bq_type: Literal["INT64", "FLOAT64"]
    level: Level
    description: str


V_COMPONENTS = tuple(f"v{i}" for i in range(1, 29))

FEATURES: tuple[Feature, ...] = (
    Feature("amount", "FLOAT64", "transaction", "transaction amount"),
    Feature("hour_of_day", "INT64", "transaction", "UTC hour of the transaction, 0-23"),
    Feature("day_of_week", "INT64", "transaction", "BigQuery DAYOFWEEK, 1=Sunday .. 7=Saturday"),
    *(
        Feature(v, "FLOAT64", "transaction", "anonymised component (Kaggle V1..V28 shape)")
        for v in V_COMPONENTS
    ),
    Feature("is_new_merchant", "INT64", "card", "1 if the card never used this merchant before"),
    Feature("merchants_seen", "INT64", "card", "distinct merchants the card used before"),
    Feature("seconds_since_prev_txn", "FLOAT64", "card", "seconds since the card's previous transaction"),
    Feature("txn_count_1h", "INT64", "card", "card transactions in the hour before"),
    Feature("txn_count_24h", "INT64", "card", "card transactions in the 24 hours before"),
    Feature("txn_count_7d", "INT64", "card", "card transactions in the 7 days before"),
    Feature("amount_sum_1h", "FLOAT64", "card", "amount spent in the hour before"),
    Feature("amount_sum_24h", "FLOAT64", "card", "amount spent in the 24 hours before"),
    Feature("amount_avg_7d", "FLOAT64", "card", "mean amount over the 7 days before"),
    Feature("amount_to_avg_7d", "FLOAT64", "card", "amount / amount_avg_7d (the card's habit)"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
TRANSACTION_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.level == "transaction")
CARD_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.level == "card")


def sql_context() -> dict[str, object]:
    """Names the SQL templates use, so the SQL never repeats the feature list."""
    return {
        "feature_columns": ", ".join(FEATURE_NAMES),
        "entity_key": ENTITY_KEY,
        "event_time": EVENT_TIME,
        "label": LABEL,
        "features_table": FEATURES_TABLE,
        "training_table": TRAINING_TABLE,
        "latest_features_view": LATEST_FEATURES_VIEW,
        "batch_input_table": BATCH_INPUT_TABLE,
        "batch_output_table": BATCH_OUTPUT_TABLE,
    }
