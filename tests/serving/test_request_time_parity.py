"""Request-time card features: serving's computation equals the training SQL, transaction by transaction.

A few thousand transactions of a few dozen cards (bursts within the hour, several in the same
second, fractions of a second, merchants reused and new, gaps longer than the widest window)
are replayed in time order on a real DuckDB warehouse speaking the project's BigQuery SQL:

* before each transaction, the card's online state is read with the state SQL the online store
  is synced from (``include/sql/macros/card_state.sql``) over the transactions replayed so far;
* serving's :func:`fraud_mlops.features.request_time_features` turns that state plus the
  transaction's time, amount and merchant into card features;
* those must equal the training table's features of the same transaction
  (``include/sql/30_card_features.sql`` over all transactions), bit for bit: both sides sum
  amounts exactly (NUMERIC in the SQL, ``Decimal`` in Python) and round once, so the order
  each adds in does not matter.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import jinja2
import numpy as np
import pandas as pd
import pytest

from fraud_mlops.features import (
    CARD_FEATURES,
    FEATURES,
    LATEST_FEATURES_VIEW,
    STATE_COLUMNS,
    V_COMPONENTS,
    WIDEST_WINDOW_SECONDS,
    CardState,
    exact_amount,
    request_time_features,
)
from fraud_mlops.landing_schema import MAX_AMOUNT
from fraud_mlops.pseudonym import WrappedKeyset
from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import render_sql, sql_dir
from fraud_mlops.warehouse.transpile import bound_parameters, split_statements, transpile_statement

#: minutes of work: `make test-slow` (CI runs it after `make test`)
pytestmark = pytest.mark.slow

N_CARDS = 25
PER_CARD = 80  # 2,000 transactions
INT_FEATURES = {f.name for f in FEATURES if f.bq_type == "INT64"}


def transactions(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    pool = [f"merchant_{i:03d}" for i in range(200)]
    rows: list[dict[str, Any]] = []
    for card in range(N_CARDS):
        favourites = list(rng.choice(pool, 5, replace=False))
        t = start + timedelta(seconds=int(rng.integers(0, 86400)))
        for _ in range(PER_CARD):
            kind = rng.random()
            if kind < 0.06:
                gap = 0  # same second as the previous transaction
            elif kind < 0.45:
                gap = int(rng.integers(1, 900))  # bursts within the hour
            elif kind < 0.95:
                gap = int(rng.integers(3600, 2 * 86400))
            else:
                gap = int(
                    rng.integers(WIDEST_WINDOW_SECONDS, WIDEST_WINDOW_SECONDS + 3 * 86400)
                )  # past 7 days
            t += timedelta(seconds=gap)
            merchant = favourites[int(rng.integers(0, 5))] if rng.random() < 0.8 else str(rng.choice(pool))
            rows.append(
                {
                    "transaction_id": f"t{len(rows):05d}",
                    "card_pseudonym": f"card{card:02d}",
                    # a fraction of a second on most rows: every engine must floor it (UNIX_SECONDS)
                    "event_time": t
                    + timedelta(microseconds=int(rng.integers(0, 1_000_000)) * (rng.random() < 0.7)),
                    "merchant": merchant,
                    "amount": round(float(rng.lognormal(3, 1)), 2) if rng.random() > 0.02 else 0.0,
                    **{v: float(rng.normal()) for v in V_COMPONENTS},
                    "is_fraud": int(rng.random() < 0.05),
                }
            )
    return pd.DataFrame(rows)


def _run_script(conn: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, str] | None = None) -> None:
    for statement in split_statements(sql):
        duck = transpile_statement(statement)
        conn.execute(duck, bound_parameters(duck, parameters) or None)


def _statements(script: str, prefixes: Iterable[str], expected: int) -> list[str]:
    """The statements of ``script`` starting (comments aside) with one of ``prefixes``."""
    starts = tuple(prefixes)
    found = [
        statement
        for statement in split_statements(script)
        if "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
        .lstrip()
        .startswith(starts)
    ]
    assert len(found) == expected, found
    return found


def _staged(table: str, rows: str) -> str:
    """A staging table of ``data`` (``rows``: a LIMIT or nothing) whose amount is staging's
    NUMERIC (00_setup.sql), as the SQL sums it."""
    return transpile_statement(
        f"CREATE TABLE `{table}` AS SELECT * REPLACE (CAST(amount AS NUMERIC) AS amount) FROM data {rows}"
    )


def _training_features(conn: duckdb.DuckDBPyConnection, data: pd.DataFrame) -> pd.DataFrame:
    """The production (incremental) 30_card_features.sql over ``data`` as one increment: staged
    candidates, their cards' scope and merchant state from 20_staging.sql's own statements."""
    settings = settings_from_env({"MLOPS_TARGET": "local"})
    conn.execute(f"CREATE SCHEMA {settings.dataset}")
    conn.execute(f"CREATE SCHEMA {settings.candidate_dataset}")
    conn.register("data", data)
    for dataset, rows in ((settings.dataset, "LIMIT 0"), (settings.candidate_dataset, "")):
        conn.execute(_staged(f"{dataset}.stg_transactions", rows))
    # the published per-card state, empty (00_setup.sql's own tables)
    published = (
        f"CREATE TABLE IF NOT EXISTS `{settings.dataset}.{t}`"
        for t in (LATEST_FEATURES_VIEW, "card_merchants")
    )
    for statement in _statements(render_sql("00_setup.sql", settings), published, expected=2):
        conn.execute(transpile_statement(statement))
    # (the pseudonym is not computed here: the data is staged already; any keyset renders)
    staging = render_sql("20_staging.sql", settings, keyset=WrappedKeyset("unused-kms-key", b"unused"))
    candidates = (
        f"CREATE OR REPLACE TABLE `{settings.candidate_dataset}.{t}`"
        for t in ("feature_scope", "card_merchants")
    )
    for statement in _statements(staging, candidates, expected=2):
        conn.execute(transpile_statement(statement))
    _run_script(
        conn,
        render_sql("30_card_features.sql", settings),
        {"event_from": "0001-01-01", "older_until": "0001-01-01"},
    )
    return conn.execute(f"SELECT * FROM {settings.candidate_dataset}.card_features").df()


@functools.cache
def _state_query(relation: str) -> str:
    """The state macro over one card's rows (``$card``): the same SQL, not every other card's too."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(sql_dir())), undefined=jinja2.StrictUndefined)
    template = env.from_string(
        "{% from 'macros/card_state.sql' import card_state %}"
        "{{ card_state(relation, 'card_pseudonym', widest) }}"
    )
    only_card = f"(SELECT * FROM {relation} WHERE card_pseudonym = @card)"
    return transpile_statement(template.render(relation=only_card, widest=WIDEST_WINDOW_SECONDS))


def _state(row: tuple[Any, ...] | None) -> CardState:
    if row is None:  # a card never seen: empty history
        return CardState((), (), None, (), (), ())
    values = dict(zip(["card_pseudonym", *(name for name, _ in STATE_COLUMNS)], row, strict=True))
    return CardState(**{name: values[name] for name, _ in STATE_COLUMNS})


def _same(name: str, served: Any, trained: Any) -> bool:
    if served is None or trained is None or (isinstance(trained, float) and math.isnan(trained)):
        return served is None and (trained is None or math.isnan(trained))
    if name in INT_FEATURES:
        return int(served) == int(trained) and float(served).is_integer()
    return float(served) == float(trained)


@pytest.fixture(scope="module")
def replayed() -> tuple[pd.DataFrame, list[tuple[str, str, Any, Any]], int]:
    data = transactions()
    conn = duckdb.connect()
    conn.execute("SET TimeZone='UTC'")
    trained = _training_features(conn, data).set_index("transaction_id")

    conn.execute("CREATE SCHEMA replay")
    conn.execute(_staged("replay.stg_transactions", "LIMIT 0"))
    mismatches: list[tuple[str, str, Any, Any]] = []
    ordered = data.sort_values(["event_time", "transaction_id"])
    for txn in ordered.itertuples(index=False):
        query = _state_query("replay.stg_transactions")
        state = _state(conn.execute(query, {"card": txn.card_pseudonym}).fetchone())
        served = request_time_features(
            state, int(txn.event_time.timestamp()), float(txn.amount), str(txn.merchant)
        )
        expected = trained.loc[txn.transaction_id]
        for name in CARD_FEATURES:
            if not _same(name, served[name], expected[name]):
                mismatches.append((txn.transaction_id, name, served[name], expected[name]))
        conn.execute(
            "INSERT INTO replay.stg_transactions SELECT * FROM data WHERE transaction_id = ?",
            [txn.transaction_id],
        )
    return data, mismatches, len(ordered)


def test_serving_features_equal_the_training_sql_for_every_replayed_transaction(
    replayed: tuple[pd.DataFrame, list[tuple[str, str, Any, Any]], int],
) -> None:
    _data, mismatches, n = replayed
    assert n == N_CARDS * PER_CARD
    assert not mismatches, f"{len(mismatches)} of {n * len(CARD_FEATURES)} differ, e.g. {mismatches[:5]}"


def test_the_replay_covers_the_edge_cases(
    replayed: tuple[pd.DataFrame, list[tuple[str, str, Any, Any]], int],
) -> None:
    """Same-second rows, gaps past the widest window, new merchants and times in the second half
    of a second (where rounding and flooring part) all occur (so all were checked)."""
    data, _, _ = replayed
    seconds = data.assign(second=data["event_time"].dt.floor("s"))
    by_card = seconds.sort_values(["card_pseudonym", "event_time"]).groupby("card_pseudonym")["second"]
    gaps = by_card.diff().dt.total_seconds().dropna()
    assert (data["event_time"].dt.microsecond >= 500_000).sum() > 500
    assert (gaps == 0).sum() > 50
    assert (gaps > WIDEST_WINDOW_SECONDS).sum() > 20
    assert (gaps < 3600).sum() > 500
    assert (data["amount"] == 0).sum() > 10  # amount_to_avg_7d's division by a zero mean
    assert data.groupby("card_pseudonym")["merchant"].nunique().min() > 5


def test_the_first_transaction_of_a_card_counts_itself() -> None:
    empty = CardState((), (), None, (), (), ())
    features = request_time_features(empty, 1_800_000_000, 25.0, "m1")
    assert features == {
        "is_new_merchant": 1,
        "merchants_seen": 1,
        "seconds_since_prev_txn": None,
        "txn_count_1h": 1,
        "txn_count_24h": 1,
        "txn_count_7d": 1,
        "amount_sum_1h": 25.0,
        "amount_sum_24h": 25.0,
        "amount_avg_7d": 25.0,
        "amount_to_avg_7d": 1.0,
    }


#: Amounts where rounding to NUMERIC's 9 places, or back from FLOAT64, could go wrong: ties
#: (half away from zero), more places than NUMERIC keeps, staging's largest accepted amount, and
#: decimals with no exact FLOAT64.
AMOUNT_TEXTS = (
    "0", "0.1", "12.34", "0.000000001", "0.1234567895", "0.1234567885", "2.0000000005",
    "33333.333333333", "49999.999999999", "49999.9999999995", "1e-10", "-1e-10", "0.30000000000000004",
)  # fmt: skip


@pytest.mark.parametrize("text", AMOUNT_TEXTS)
def test_serving_reads_each_amount_as_the_numeric_staging_sums(text: str) -> None:
    """BigQuery's own casts (ZetaSQL's reference evaluator) and the local warehouse's: a
    request's amount rounds as staging rounds a landed one, and the state's FLOAT64 amount is
    that NUMERIC again, so serving's exact sums are the SQL's."""
    from tests.reference_engine import evaluate

    _, numeric = evaluate(f"CAST('{text}' AS NUMERIC)")
    _, stored = evaluate(f"CAST(CAST('{text}' AS NUMERIC) AS FLOAT64)")
    local = (
        duckdb.connect()
        .execute(transpile_statement(f"SELECT CAST(CAST('{text}' AS NUMERIC) AS FLOAT64)"))
        .fetchone()
    )
    assert local is not None and local[0] == stored
    assert exact_amount(Decimal(text)) == numeric  # a request's amount, from its JSON text
    assert exact_amount(stored) == numeric  # a state's amount
    assert float(exact_amount(stored)) == stored  # one correctly rounded cast on both sides
    # NUMERIC has no negative zero: neither a tiny negative request amount nor its features do
    assert math.copysign(1.0, float(exact_amount(Decimal(text)))) == math.copysign(1.0, stored)


#: Amounts written with more digits than a FLOAT64 keeps, on either side of a rounding tie:
#: rounded from the parsed float (0.1234567885, 49999.9999999995, 2.0000000005) they would round
#: up, where BigQuery rounds the text down.
LONG_AMOUNT_TEXTS = (
    "0.12345678849999999999", "49999.99999999949999999", "2.00000000049999999999",
    "0.12345678850000000001", "12.34567890123456789012345678901234567890",
)  # fmt: skip


@pytest.mark.parametrize("text", AMOUNT_TEXTS + LONG_AMOUNT_TEXTS)
def test_a_request_amount_rounds_from_its_text_as_staging_rounds_a_landed_one(text: str) -> None:
    """The request as the HTTP function reads it (its JSON body) against BigQuery's cast of the
    same text (ZetaSQL's reference evaluator): the model is sent the amount training saw."""
    from fraud_mlops.serving.request import parse_request
    from tests.reference_engine import evaluate

    _, stored = evaluate(f"CAST(CAST('{text}' AS NUMERIC) AS FLOAT64)")
    body = f'{{"card_number": "4111111111111111", "amount": {text}, "merchant": "m"}}'.encode()
    transaction = parse_request(body).transaction
    assert transaction is not None
    assert transaction.amount == stored
    assert math.copysign(1.0, transaction.amount) == 1.0


def test_every_amount_staging_keeps_comes_back_exactly_from_its_float() -> None:
    """NUMERICs up to staging's largest amount with all 9 places: 14 significant digits, within
    the 15 every FLOAT64 keeps, so reading the state's amounts back loses nothing."""
    rng = np.random.default_rng(11)
    nanos = rng.integers(0, MAX_AMOUNT * 10**9 + 1, size=20_000)
    values = [Decimal(int(n)).scaleb(-9) for n in nanos] + [Decimal(MAX_AMOUNT) - Decimal("1e-9")]
    assert [exact_amount(float(v)) for v in values] == values


def _features_of(data: pd.DataFrame) -> pd.DataFrame:
    conn = duckdb.connect()
    conn.execute("SET TimeZone='UTC'")
    features = _training_features(conn, data).drop(columns="card_pseudonym")
    return features.sort_values("transaction_id").reset_index(drop=True)


def test_features_do_not_depend_on_the_card_keys_or_the_order_rows_come_in() -> None:
    """Each run's keyset gives the cards other pseudonyms, which order the windows' partitions;
    files and threads give rows another order. Neither may move a feature's last bit: it moved
    the demo's first model from run to run (PR-AUC 0.7706 or 0.7673) when sums were FLOAT64."""
    data = transactions()
    other_keys = data.assign(card_pseudonym="z" + data["card_pseudonym"].str[::-1])  # card01 -> z10drac
    shuffled = other_keys.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(_features_of(data), _features_of(shuffled), check_exact=True)
