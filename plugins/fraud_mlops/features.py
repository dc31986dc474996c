"""The one feature definition: entity key, feature names, types, sources and freshness.

Everything that needs the feature list takes it from here: the SQL templates (the training
table and the latest-features view select ``feature_columns``), the feature-store sync, the
training dataset and the serving lookup. A test checks that the SQL's output columns match.

Two kinds of features:

* ``transaction`` features describe the transaction being scored (amount, time, the
  V-components): at serving time they come from the request.
* ``card`` features describe the transaction *within the card's history*: counts, sums and
  means over time windows that end with the transaction itself, its amount against the card's
  7-day mean, and whether its merchant is new to the card. The history is the card's
  transactions in *earlier seconds* (a window ``W`` covers ``[t - W, t - 1]`` in whole seconds,
  so no row sees its own second's other rows or its future); the transaction being scored is
  then added to it. :data:`CARD_FEATURE_RULES` says how each card feature combines history and
  transaction, once, for both sides:

  - the training SQL (``30_card_features.sql``) renders its final expressions from them
    (:func:`card_feature_sql`), on top of the history aggregates of its window CTE;
  - serving computes them from the card's online state plus the request
    (:func:`request_time_features`), where the state (:class:`CardState`, built by
    ``include/sql/macros/card_state.sql``) is the card's recent ``(time, amount)`` pairs
    within the widest window and its merchants with their first-seen time.

  ``tests/serving/test_request_time_parity.py`` replays transactions in time order and checks
  that both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Literal

Level = Literal["transaction", "card"]

ENTITY_KEY = "card_pseudonym"
EVENT_TIME = "event_time"
LABEL = "is_fraud"
TRANSACTION_ID = "transaction_id"

FEATURES_TABLE = "card_features"  # every transaction with its point-in-time features
TRAINING_TABLE = "training_examples"  # features + label + event time, input of snapshots
LATEST_FEATURES_VIEW = "latest_card_features"  # one row per card: the feature view's source
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
    Feature("merchants_seen", "INT64", "card", "distinct merchants the card used, this one included"),
    Feature("seconds_since_prev_txn", "FLOAT64", "card", "seconds since the card's previous transaction"),
    Feature("txn_count_1h", "INT64", "card", "card transactions in the last hour, this one included"),
    Feature("txn_count_24h", "INT64", "card", "card transactions in the last 24 hours, this one included"),
    Feature("txn_count_7d", "INT64", "card", "card transactions in the last 7 days, this one included"),
    Feature("amount_sum_1h", "FLOAT64", "card", "amount spent in the last hour, this one included"),
    Feature("amount_sum_24h", "FLOAT64", "card", "amount spent in the last 24 hours, this one included"),
    Feature("amount_avg_7d", "FLOAT64", "card", "mean amount over the last 7 days, this one included"),
    Feature(
        "amount_to_avg_7d", "FLOAT64", "card", "amount / amount_avg_7d (the card's habit); 1 when both are 0"
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
#: The batch prediction input table's columns, in order (include/sql/81_batch_prediction_input.sql).
#: Vertex AI batch prediction sends each BigQuery row to the model server as a JSON array in
#: this order (InstanceConfig's default for BigQuery input, which the provider's operator cannot
#: change), so the server reads the features by their position here.
BATCH_INPUT_COLUMNS: tuple[str, ...] = (ENTITY_KEY, "feature_time_us", *FEATURE_NAMES)
TRANSACTION_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.level == "transaction")
CARD_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.level == "card")


# --- card features: history + the transaction being scored, defined once ------------------

RuleKind = Literal[
    "count", "sum", "mean", "ratio_to_mean", "new_merchant", "merchants_seen", "since_previous"
]


@dataclass(frozen=True)
class CardFeatureRule:
    """How one card feature combines the card's history with the transaction being scored.

    ``window_seconds``: the window ``[t - W, t - 1]`` of history (count, sum, mean, ratio).
    ``count_of``: for a mean, the count feature over the same window; ``sum_of``: the SQL's
    history column holding the window's sum of amounts (a sum, not a mean, so the mean is
    computed once, from exact values, as serving computes it).
    """

    name: str
    kind: RuleKind
    window_seconds: int | None = None
    count_of: str | None = None
    sum_of: str | None = None


CARD_FEATURE_RULES: tuple[CardFeatureRule, ...] = (
    CardFeatureRule("is_new_merchant", "new_merchant"),
    CardFeatureRule("merchants_seen", "merchants_seen"),
    CardFeatureRule("seconds_since_prev_txn", "since_previous"),
    CardFeatureRule("txn_count_1h", "count", 3600),
    CardFeatureRule("txn_count_24h", "count", 86400),
    CardFeatureRule("txn_count_7d", "count", 604800),
    CardFeatureRule("amount_sum_1h", "sum", 3600),
    CardFeatureRule("amount_sum_24h", "sum", 86400),
    CardFeatureRule("amount_avg_7d", "mean", 604800, count_of="txn_count_7d", sum_of="amount_sum_7d"),
    CardFeatureRule(
        "amount_to_avg_7d", "ratio_to_mean", 604800, count_of="txn_count_7d", sum_of="amount_sum_7d"
    ),
)
WIDEST_WINDOW_SECONDS = max(r.window_seconds or 0 for r in CARD_FEATURE_RULES)
#: ``amount_to_avg_7d`` of a window whose amounts, this one's included, are all 0: the amount
#: is its mean. Never NULL: Google documents that Vertex's online store may serve a feature's
#: most recent non-null value when its latest is NULL ("If the latest value of a feature is null,
#: then Vertex AI Feature Store serves the most recent non-null historical value",
#: https://cloud.google.com/vertex-ai/docs/featurestore/latest/online-serving-types), so a card
#: whose ratio became NULL could be answered with its older ratio on gcp and NaN locally
#: (docs/feature_store.md: which views it applies to, Google's pages differ).
RATIO_WHEN_ALL_ZERO = 1.0
#: Staging rejects earlier events (``ancient_event_time``). The incremental SQL buckets a card's
#: seconds since the epoch into UTC days with DIV, which truncates toward zero on both targets,
#: so seconds before the epoch would share day 0 with the first day after it; and a year-1 event
#: would put the increment's look-back before the first date either target can hold.
EARLIEST_EVENT_TIME = "1970-01-01 00:00:00"


def card_feature_sql(rule: CardFeatureRule) -> str:
    """The training SQL's expression for ``rule``, over the history columns of the same name.

    In ``30_card_features.sql`` each card feature's name first holds the aggregate of the
    card's *history* (earlier seconds); ``amount`` is the row's own amount, a NUMERIC. Sums of
    amounts are NUMERIC, exact, until the feature is written: a FLOAT64 sum depends on the order
    it adds in, which neither BigQuery nor DuckDB defines (a card's rows in one second, parallel
    partial sums), so the same rows gave features differing in the last bit from run to run,
    and models trained on them differed too. See :func:`exact_amount` for serving's side.
    """
    if rule.kind == "count":
        return f"{rule.name} + 1"
    if rule.kind == "sum":
        return f"CAST({rule.name} + amount AS FLOAT64)"
    if rule.kind in ("mean", "ratio_to_mean"):
        mean = f"CAST(IFNULL({rule.sum_of}, 0) + amount AS FLOAT64) / ({rule.count_of} + 1)"
        # amounts are never negative (staging, the request): a zero mean is a window of zero
        # amounts, this one too, so the amount is its mean: 1, never NULL (see RATIO_WHEN_ALL_ZERO)
        ratio = f"IFNULL(SAFE_DIVIDE(CAST(amount AS FLOAT64), {mean}), {RATIO_WHEN_ALL_ZERO})"
        return mean if rule.kind == "mean" else ratio
    if rule.kind == "merchants_seen":
        return "merchants_seen + is_new_merchant"
    return rule.name  # new_merchant, since_previous: history only, as the window CTE has them


#: NUMERIC's scale: BigQuery rounds to 9 decimal places, half away from zero, when it casts a
#: landed amount's text to NUMERIC (20_staging.sql).
_NUMERIC_QUANTUM = Decimal("1e-9")
#: Enough digits to hold any finite FLOAT64 to 9 places (309 integer digits at the most): the
#: default context's 28 would raise InvalidOperation for amounts from 1e19 on, which serving
#: must refuse as out of range, not fail on.
_WIDE = Context(prec=330)


def exact_amount(amount: float | Decimal) -> Decimal:
    """``amount`` as the NUMERIC the SQL sums.

    The state's amounts are NUMERICs written as FLOAT64 (Vertex Feature Store has no NUMERIC):
    staging keeps amounts of at most 50,000 to 9 decimal places, at most 14 significant digits,
    and a FLOAT64 holds 15, so the shortest text of the float (``repr``) is the NUMERIC again. A
    request's amount comes as the ``Decimal`` of its JSON text and is rounded from that text, as
    staging's ``CAST(text AS NUMERIC)`` rounds a landed one: rounded from a float, an amount
    written with more than 15 significant digits could round the other way. NUMERIC has no
    negative zero, so neither has this. A finite FLOAT64's value needs at most 309 integer
    digits, within ``_WIDE``; a larger ``Decimal`` is the caller's to refuse first.
    """
    text = amount if isinstance(amount, Decimal) else Decimal(repr(float(amount)))
    value = text.quantize(_NUMERIC_QUANTUM, rounding=ROUND_HALF_UP, context=_WIDE)
    return value if value else abs(value)


@dataclass(frozen=True)
class CardState:
    """What serving needs of a card's history (the online store holds it; SQL builds it).

    ``recent_*``: the card's transactions within :data:`WIDEST_WINDOW_SECONDS` of its latest
    one (UNIX seconds, amounts), in time order; ``previous_time``: its latest transaction
    before those (for ``seconds_since_prev_txn``), if any. ``merchant_*``: every merchant the
    card used, with the second it was first used and how many transactions used it then.
    """

    recent_times: Sequence[int]
    recent_amounts: Sequence[float]
    previous_time: int | None
    merchant_names: Sequence[str]
    merchant_first_times: Sequence[int]
    merchant_first_counts: Sequence[int]


STATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("recent_times", "ARRAY<INT64>"),
    ("recent_amounts", "ARRAY<FLOAT64>"),
    ("previous_time", "INT64"),
    ("merchant_names", "ARRAY<STRING>"),
    ("merchant_first_times", "ARRAY<INT64>"),
    ("merchant_first_counts", "ARRAY<INT64>"),
)


def request_time_features(
    state: CardState, time: int, amount: float, merchant: str
) -> dict[str, float | int | None]:
    """The card features of a transaction at UNIX second ``time``, as the training SQL computes them."""
    horizon = time - 1  # history is earlier seconds only
    earlier = [
        (s, exact_amount(a))
        for s, a in zip(state.recent_times, state.recent_amounts, strict=True)
        if s <= horizon
    ]
    first_seen = dict(zip(state.merchant_names, state.merchant_first_times, strict=True))
    first = first_seen.get(merchant)
    is_new = 1 if first is None or first > horizon else 0
    out: dict[str, float | int | None] = {}
    windows: dict[int, tuple[int, Decimal]] = {}
    exact = exact_amount(amount)
    for rule in CARD_FEATURE_RULES:
        if rule.window_seconds is not None and rule.window_seconds not in windows:
            start = time - rule.window_seconds
            inside = [a for s, a in earlier if s >= start]
            windows[rule.window_seconds] = (len(inside), sum(inside, Decimal(0)))
        if rule.kind == "count":
            out[rule.name] = windows[rule.window_seconds or 0][0] + 1
        elif rule.kind == "sum":
            out[rule.name] = float(windows[rule.window_seconds or 0][1] + exact)
        elif rule.kind in ("mean", "ratio_to_mean"):
            n, total = windows[rule.window_seconds or 0]
            mean = float(total + exact) / (n + 1)
            ratio = float(exact) / mean if mean != 0 else RATIO_WHEN_ALL_ZERO
            out[rule.name] = mean if rule.kind == "mean" else ratio
        elif rule.kind == "new_merchant":
            out[rule.name] = is_new
        elif rule.kind == "merchants_seen":
            seen = zip(state.merchant_first_times, state.merchant_first_counts, strict=True)
            out[rule.name] = sum(count for t, count in seen if t <= horizon) + is_new
        elif rule.kind == "since_previous":
            previous = max((s for s, _ in earlier), default=None)
            if previous is None and state.previous_time is not None and state.previous_time <= horizon:
                previous = state.previous_time
            out[rule.name] = None if previous is None else float(time - previous)
    return out


def sql_context() -> dict[str, object]:
    """Names the SQL templates use, so the SQL never repeats the feature list."""
    return {
        "feature_columns": ", ".join(FEATURE_NAMES),
        "feature_types": [(f.name, f.bq_type) for f in FEATURES],
        "entity_key": ENTITY_KEY,
        "event_time": EVENT_TIME,
        "label": LABEL,
        "features_table": FEATURES_TABLE,
        "training_table": TRAINING_TABLE,
        "latest_features_view": LATEST_FEATURES_VIEW,
        "batch_input_table": BATCH_INPUT_TABLE,
        "batch_output_table": BATCH_OUTPUT_TABLE,
        "card_feature_expressions": [(r.name, card_feature_sql(r)) for r in CARD_FEATURE_RULES],
        "widest_window_seconds": WIDEST_WINDOW_SECONDS,
        "earliest_event_time": EARLIEST_EVENT_TIME,
        "state_columns": STATE_COLUMNS,
    }
