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

import datetime as dt
import json
import math
import re
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from fraud_mlops.features import (
    CARD_FEATURES,
    ENTITY_KEY,
    FEATURES_TABLE,
    LATEST_FEATURES_VIEW,
    STATE_COLUMNS,
)
from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.transpile import split_statements, transpile_statement
from tests.bigquery_analyzer import Catalog, analyze_script, language_options
from tests.reference.full_refresh_sql import reference_sql
from tests.serving.test_request_time_parity import transactions

CARDS = 8  # of the replay's 25: ~640 transactions


def _numeric_bytes(value: Decimal) -> bytes:
    """ZetaSQL's NUMERIC encoding: the value x 1e9 as little-endian two's complement."""
    scaled = int(value * 10**9)
    return scaled.to_bytes((scaled.bit_length() + 8) // 8 or 1, "little", signed=True)


def _cell(kind: str, value: Any) -> Any:
    """A ZetaSQL Value for a table cell of type ``kind``."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from zetasql.types import Value

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Value()
    if kind == "TYPE_TIMESTAMP":
        stamp = Timestamp()
        stamp.FromDatetime(pd.Timestamp(value).to_pydatetime())
        return Value(timestamp_value=stamp)
    if kind == "TYPE_NUMERIC":
        return Value(numeric_value=_numeric_bytes(Decimal(str(value))))
    if kind == "TYPE_INT64":
        return Value(int64_value=int(value))
    if kind == "TYPE_DOUBLE":
        return Value(double_value=float(value))
    if kind == "TYPE_BOOL":
        return Value(bool_value=bool(value))
    return Value(string_value=str(value))


def _table_content(columns: list[tuple[str, Any]], frame: pd.DataFrame) -> Any:
    from zetasql.types import TableContent, TableData

    rows = [
        TableData.Row(cell=[_cell(kind.type_kind.name, record.get(name)) for name, kind in columns])
        for record in frame.to_dict("records")
    ]
    return TableContent(table_data=TableData(row=rows))


def _query(statement: str) -> str:
    """The query of a ``CREATE OR REPLACE TABLE … AS`` statement."""
    match = re.search(r"CREATE OR REPLACE TABLE\s+`[^`]+`\s+AS\s+(.*)", statement, flags=re.DOTALL)
    assert match, statement[:200]
    return match.group(1)


def _reference_rows(query: str, catalog: Catalog, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``query`` run by ZetaSQL over ``tables`` (name -> rows), one JSON object per row."""
    from zetasql.api import PreparedQuery
    from zetasql.types import AnalyzerOptions

    options = AnalyzerOptions(language_options=language_options(), default_timezone="UTC")
    content = {name: _table_content(catalog.tables[name], frame) for name, frame in tables.items()}
    sql = f"SELECT TO_JSON_STRING(r) FROM ({query}) AS r"
    builder = PreparedQuery.builder().set_sql(sql).set_analyzer_options(options)
    with builder.set_catalog(catalog.proto()).set_table_content(content).prepare() as prepared:
        result = prepared.execute()
    rows = [json.loads(row.cell[0].string_value) for row in result.content.table_data.row]
    return pd.DataFrame(rows, dtype=object)  # None stays NULL; NaN arrives as "NaN"


def _local_rows(hook: Any, query: str) -> pd.DataFrame:
    """``query`` run by the local warehouse, as Python values (NULL None, NaN a float NaN)."""
    conn = hook.get_conn()
    try:
        cursor = conn.execute(transpile_statement(query))
        names = [d[0] for d in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=names, dtype=object)
    finally:
        conn.close()


def _null(value: Any) -> bool:
    return value is None


def _float(value: Any) -> float:
    """A number, or JSON's spelling of a FLOAT64 NaN or infinity, or a NUMERIC's digits."""
    return (
        float(value)
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity")
        else float(Decimal(str(value)))
    )


def _same(reference: Any, local: Any) -> bool:
    """Numbers to a relative 1e-12 (NUMERIC's exact digits: test_reference_semantics), NULL only
    to NULL, timestamps as instants, arrays element-wise."""
    if isinstance(reference, list) or isinstance(local, list):
        local = list(local) if local is not None else None
        return (
            isinstance(reference, list)
            and isinstance(local, list)
            and len(reference) == len(local)
            and all(_same(r, x) for r, x in zip(reference, local, strict=True))
        )
    if _null(reference) or _null(local):
        return _null(reference) and _null(local)
    if isinstance(reference, str) and isinstance(local, dt.datetime):
        return dt.datetime.fromisoformat(reference.replace("Z", "+00:00")) == local
    if isinstance(reference, str | int | float) and isinstance(local, int | float | Decimal):
        expected, got = _float(reference), float(local)  # NUMERIC is a JSON string
        return (math.isnan(expected) and math.isnan(got)) or math.isclose(expected, got, rel_tol=1e-12)
    return bool(reference == local)


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Each statement's rows by engine: {"features" | "latest": (reference, local)}."""
    from fraud_mlops.pseudonym import ensure_local_keys
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    local_dir = tmp_path_factory.mktemp("reference_features")
    ensure_local_keys(local_dir)  # the staging step of the reference renders with the keyset
    settings = settings_from_env({"MLOPS_LOCAL_DIR": str(local_dir)})
    setup = render_sql(SQL_FILES["setup"], settings)
    catalog = Catalog()
    assert analyze_script("00_setup.sql", setup, catalog) == []
    staged_table = f"{settings.dataset}.stg_transactions"
    replay = transactions()
    staged = replay[replay["card_pseudonym"].isin(sorted(replay["card_pseudonym"].unique())[:CARDS])]
    staged = staged.assign(event_time=staged["event_time"].map(pd.Timestamp))

    hook = BigQueryDialectDuckDBHook(database=str(local_dir / "w.duckdb"))
    hook.run(setup)
    conn = hook.get_conn()
    try:
        conn.register("staged", staged)
        conn.execute(f"INSERT INTO {staged_table} BY NAME SELECT * FROM staged")
    finally:
        conn.close()

    features_sql, latest_sql = split_statements(reference_sql(settings)[1])[:2]
    features_table = f"{settings.dataset}.{FEATURES_TABLE}"
    assert f"{features_table}`" in features_sql.split(" AS")[0]
    assert f"{settings.dataset}.{LATEST_FEATURES_VIEW}`" in latest_sql.split(" AS")[0]

    local_features = _local_rows(hook, _query(features_sql))
    reference_features = _reference_rows(_query(features_sql), catalog, {staged_table: staged})
    # the latest rows read the features table: both engines read the same (the local) rows
    hook.run(features_sql)
    assert analyze_script("30_card_features.sql", features_sql, catalog) == []
    local_latest = _local_rows(hook, _query(latest_sql))
    reference_latest = _reference_rows(
        _query(latest_sql), catalog, {staged_table: staged, features_table: local_features}
    )
    return {
        "features": (reference_features, local_features),
        "latest": (reference_latest, local_latest),
    }


def _differences(reference: pd.DataFrame, local: pd.DataFrame, key: str, columns: list[str]) -> list[Any]:
    assert len(reference) == len(local) > 0
    ref = reference.set_index(key)
    loc = local.set_index(key)
    assert sorted(ref.index) == sorted(loc.index)
    return [
        (k, c, ref.at[k, c], loc.at[k, c])
        for k in ref.index
        for c in columns
        if not _same(ref.at[k, c], loc.at[k, c])
    ]


def test_every_feature_of_every_row_as_googlesql_computes_it(computed):
    reference, local = computed["features"]
    columns = [*CARD_FEATURES, "hour_of_day", "day_of_week", "event_time", ENTITY_KEY]
    differences = _differences(reference, local, "transaction_id", columns)
    assert differences == [], f"{len(differences)} differ, e.g. {differences[:5]}"


def test_each_cards_latest_row_and_serving_state_as_googlesql_computes_them(computed):
    reference, local = computed["latest"]
    columns = [*CARD_FEATURES, "event_time", *(name for name, _ in STATE_COLUMNS)]
    differences = _differences(reference, local, ENTITY_KEY, columns)
    assert differences == [], f"{len(differences)} differ, e.g. {differences[:5]}"


def test_the_rows_exercise_what_could_part(computed):
    """Fractions of a second at or past the half, rows sharing a second, gaps past a week."""
    reference, _ = computed["features"]
    times = pd.to_datetime(reference["event_time"], format="ISO8601")
    assert (times.dt.microsecond >= 500_000).sum() > 100
    assert reference.assign(second=times.dt.floor("s")).duplicated([ENTITY_KEY, "second"]).sum() > 5
    assert (reference["seconds_since_prev_txn"].dropna() > 7 * 86400).sum() > 3
