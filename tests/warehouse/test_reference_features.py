"""The card-feature SQL computed by Google's reference engine and by the local warehouse agrees.

The incremental feature tables equal a full refresh's on DuckDB (the equivalence test), and
serving equals the SQL on DuckDB (the request-time parity test). What neither shows is that
BigQuery computes the SQL as DuckDB does: window frames over ``UNIX_SECONDS`` (``RANGE … 1
PRECEDING``, peers in the same second), ``DIV`` day buckets, ``QUALIFY``, ordered
``ARRAY_AGG``. Here the full refresh's two statements (``tests/reference/full_refresh/
30_card_features.sql``: every row's features, then each card's latest row with its serving
state) run on ZetaSQL's reference implementation of GoogleSQL and on the local warehouse over
the same staged transactions (cards with bursts, same-second rows, fractions of a second and
week-long gaps), and every value of every row is compared.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fraud_mlops.features import (
    CARD_FEATURES,
    ENTITY_KEY,
    FEATURES_TABLE,
    LATEST_FEATURES_VIEW,
    STATE_COLUMNS,
)
from fraud_mlops.warehouse.transpile import split_statements
from tests.bigquery_analyzer import analyze_script
from tests.reference.full_refresh_sql import reference_sql
from tests.reference_engine import (
    create_query,
    differences,
    insert,
    local_rows,
    local_warehouse,
    reference_rows,
)
from tests.serving.test_request_time_parity import transactions

CARDS = 8  # of the replay's 25: ~640 transactions


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Each statement's rows by engine: {"features" | "latest": (reference, local)}."""
    settings, hook, catalog = local_warehouse(tmp_path_factory.mktemp("reference_features"))
    staged_table = f"{settings.dataset}.stg_transactions"
    replay = transactions()
    staged = replay[replay["card_pseudonym"].isin(sorted(replay["card_pseudonym"].unique())[:CARDS])]
    staged = staged.assign(event_time=staged["event_time"].map(pd.Timestamp))
    insert(hook, staged_table, staged)

    features_sql, latest_sql = split_statements(reference_sql(settings)[1])[:2]
    features_table = f"{settings.dataset}.{FEATURES_TABLE}"
    assert f"{features_table}`" in features_sql.split(" AS")[0]
    assert f"{settings.dataset}.{LATEST_FEATURES_VIEW}`" in latest_sql.split(" AS")[0]

    local_features = local_rows(hook, create_query(features_sql))
    reference_features = reference_rows(create_query(features_sql), catalog, {staged_table: staged})
    # the latest rows read the features table: both engines read the same (the local) rows
    hook.run(features_sql)
    assert analyze_script("30_card_features.sql", features_sql, catalog) == []
    local_latest = local_rows(hook, create_query(latest_sql))
    reference_latest = reference_rows(
        create_query(latest_sql), catalog, {staged_table: staged, features_table: local_features}
    )
    return {
        "features": (reference_features, local_features),
        "latest": (reference_latest, local_latest),
    }


def test_every_feature_of_every_row_as_googlesql_computes_it(computed):
    reference, local = computed["features"]
    columns = [*CARD_FEATURES, "hour_of_day", "day_of_week", "event_time", ENTITY_KEY]
    parted = differences(reference, local, "transaction_id", columns)
    assert parted == [], f"{len(parted)} differ, e.g. {parted[:5]}"


def test_each_cards_latest_row_and_serving_state_as_googlesql_computes_them(computed):
    reference, local = computed["latest"]
    columns = [*CARD_FEATURES, "event_time", *(name for name, _ in STATE_COLUMNS)]
    parted = differences(reference, local, ENTITY_KEY, columns)
    assert parted == [], f"{len(parted)} differ, e.g. {parted[:5]}"


def test_the_rows_exercise_what_could_part(computed):
    """Fractions of a second at or past the half, rows sharing a second, gaps past a week."""
    reference, _ = computed["features"]
    times = pd.to_datetime(reference["event_time"], format="ISO8601")
    assert (times.dt.microsecond >= 500_000).sum() > 100
    assert reference.assign(second=times.dt.floor("s")).duplicated([ENTITY_KEY, "second"]).sum() > 5
    assert (reference["seconds_since_prev_txn"].dropna() > 7 * 86400).sum() > 3
