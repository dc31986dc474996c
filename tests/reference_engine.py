"""ZetaSQL's reference implementation of GoogleSQL next to the local warehouse.

``evaluate`` computes one expression on ZetaSQL's reference evaluator. ``reference_rows`` runs a
query there (``PreparedQuery`` over table content: TIMESTAMP cells as protobuf Timestamps,
NUMERIC in ZetaSQL's encoding) and ``local_rows`` the same query on the local warehouse
(transpiled), both as Python values (NULL is None, NaN a NaN); ``differences`` lists every value
where they part. Used by ``tests/warehouse/test_reference_*.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_mlops.settings import Settings, settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.transpile import bound_parameters, transpile_statement
from tests.bigquery_analyzer import Catalog, analyze_script, language_options, parameter_names, scalar_type


def local_warehouse(local_dir: Path) -> tuple[Settings, Any, Catalog]:
    """A local warehouse with ``00_setup.sql``'s tables, and the catalog ZetaSQL resolved from it."""
    from fraud_mlops.pseudonym import ensure_local_keys, local_kek_resolver
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    ensure_local_keys(local_dir)  # the reference SQL renders with the pseudonym keyset
    settings = settings_from_env({"MLOPS_LOCAL_DIR": str(local_dir)})
    setup = render_sql(SQL_FILES["setup"], settings)
    catalog = Catalog()
    assert analyze_script("00_setup.sql", setup, catalog) == []
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    hook = BigQueryDialectDuckDBHook(
        database=str(settings.warehouse_path),
        snapshot_dir=settings.snapshot_dir,
        kek_resolver=local_kek_resolver(local_dir),
    )
    hook.run(setup)
    return settings, hook, catalog


def insert(hook: Any, table: str, rows: pd.DataFrame) -> None:
    """Append ``rows`` to the local ``table`` by column name."""
    conn = hook.get_conn()
    try:
        conn.register("rows", rows)
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM rows")
    finally:
        conn.close()


def _numeric_bytes(value: Decimal) -> bytes:
    """ZetaSQL's NUMERIC encoding: the value x 1e9 as little-endian two's complement (scaled
    exactly: the default decimal context's 28 digits would round NUMERIC's 38 up past its max)."""
    scaled = int(value.scaleb(9, Context(prec=60)))
    return scaled.to_bytes((scaled.bit_length() + 8) // 8 or 1, "little", signed=True)


def _cell(column_type: Any, value: Any) -> Any:
    """A ZetaSQL Value for a table cell of ``column_type`` (a ZetaSQL Type)."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from zetasql.types import Value

    kind = column_type.type_kind.name
    if value is None or (isinstance(value, float) and math.isnan(value) and kind != "TYPE_DOUBLE"):
        return Value()
    if kind == "TYPE_ARRAY":
        element_type = column_type.array_type.element_type
        return Value(array_value=Value.Array(element=[_cell(element_type, v) for v in value]))
    if kind == "TYPE_TIMESTAMP":
        stamp = Timestamp()
        stamp.FromDatetime(pd.Timestamp(value).to_pydatetime())
        return Value(timestamp_value=stamp)
    if kind == "TYPE_DATE":
        return Value(date_value=(pd.Timestamp(value).date() - dt.date(1970, 1, 1)).days)
    if kind == "TYPE_NUMERIC":
        return Value(numeric_value=_numeric_bytes(Decimal(str(value))))
    if kind == "TYPE_INT64":
        return Value(int64_value=int(value))
    if kind == "TYPE_DOUBLE":
        return Value(double_value=float(value))
    if kind == "TYPE_BOOL":
        return Value(bool_value=bool(value))
    return Value(string_value=str(value))


def table_content(columns: list[tuple[str, Any]], frame: pd.DataFrame) -> Any:
    from zetasql.types import TableContent, TableData

    rows = [
        TableData.Row(cell=[_cell(column_type, record.get(name)) for name, column_type in columns])
        for record in frame.to_dict("records")
    ]
    return TableContent(table_data=TableData(row=rows))


_CREATE_AS = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+)?TABLE\s+(`[^`]+`|\w+)\s+AS\s+(.*)", re.DOTALL
)


def created(statement: str) -> tuple[str, str] | None:
    """(table, query) of a ``CREATE [OR REPLACE] [TEMP] TABLE … AS query`` statement, else None."""
    match = _CREATE_AS.search(re.sub(r"--[^\n]*", "", statement))
    return (match.group(1), match.group(2)) if match else None


def create_query(statement: str) -> str:
    """The query of a ``CREATE … TABLE … AS`` statement."""
    found = created(statement)
    assert found, statement[:200]
    return found[1]


def reference_rows(
    query: str, catalog: Catalog, tables: dict[str, pd.DataFrame], parameters: dict[str, str] | None = None
) -> pd.DataFrame:
    """``query`` run by ZetaSQL over ``tables`` (name -> rows) with STRING ``parameters``, one
    JSON object per row."""
    from zetasql.api import PreparedQuery
    from zetasql.types import AnalyzerOptions, Parameter, Value

    named = parameter_names(query)
    values = {name: value for name, value in (parameters or {}).items() if name in named}
    declared = [AnalyzerOptions.QueryParameter(name=name, type=scalar_type("TYPE_STRING")) for name in values]
    options = AnalyzerOptions(
        language_options=language_options(), default_timezone="UTC", query_parameters=declared
    )
    content = {name: table_content(catalog.tables[name], frame) for name, frame in tables.items()}
    sql = f"SELECT TO_JSON_STRING(r) FROM ({query}) AS r"
    builder = PreparedQuery.builder().set_sql(sql).set_analyzer_options(options)
    with builder.set_catalog(catalog.proto()).set_table_content(content).prepare() as prepared:
        bound = [Parameter(name=n, value=Value(string_value=v)) for n, v in values.items()]
        result = prepared.execute(parameters=bound)  # type: ignore[arg-type]  # a list, as the request takes
    data = result.content.table_data if result.content else None  # none for no rows
    rows = [json.loads(row.cell[0].string_value) for row in (data.row if data else [])]
    return pd.DataFrame(rows, dtype=object)  # None stays NULL; NaN arrives as "NaN"


def local_rows(hook: Any, query: str) -> pd.DataFrame:
    """``query`` run by the local warehouse, as Python values (NULL None, NaN a float NaN)."""
    conn = hook.get_conn()
    try:
        return connection_rows(conn, query)
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


def same(reference: Any, local: Any) -> bool:
    """Numbers exactly: a FLOAT64 bit for bit, a NUMERIC digit for digit. The statements compared
    here (staging, card features) have no FLOAT64 sum whose order an engine picks: card features
    sum NUMERICs and round once (78 of their values differed in the last bit when they summed
    FLOAT64s). A FLOAT64 aggregate compared here one day would need a tolerance. NULL only to NULL,
    BOOL only to the same BOOL, timestamps as instants, arrays element-wise."""
    if isinstance(reference, list) or isinstance(local, list):
        local = list(local) if local is not None else None
        return (
            isinstance(reference, list)
            and isinstance(local, list)
            and len(reference) == len(local)
            and all(same(r, x) for r, x in zip(reference, local, strict=True))
        )
    if _null(reference) or _null(local):
        return _null(reference) and _null(local)
    if isinstance(reference, str) and isinstance(local, dt.datetime):
        return dt.datetime.fromisoformat(reference.replace("Z", "+00:00")) == local
    if isinstance(reference, bool) or isinstance(local, bool):  # before numbers: a bool is an int
        return reference is local
    if isinstance(reference, str | int | float) and isinstance(local, int | float | Decimal):
        expected, got = _float(reference), float(local)  # NUMERIC is a JSON string
        return (math.isnan(expected) and math.isnan(got)) or expected == got
    return bool(reference == local)


def differences(reference: pd.DataFrame, local: pd.DataFrame, key: str, columns: list[str]) -> list[Any]:
    assert len(reference) == len(local) > 0
    ref = reference.set_index(key)
    loc = local.set_index(key)
    assert sorted(ref.index) == sorted(loc.index)
    return [
        (k, c, ref.at[k, c], loc.at[k, c])
        for k in ref.index
        for c in columns
        if not same(ref.at[k, c], loc.at[k, c])
    ]


def evaluate(expression: str) -> tuple[str, Any]:
    """``expression`` evaluated by ZetaSQL's reference implementation: (type kind, value as
    Python), or ("error", message) for what BigQuery would fail on."""
    import base64

    from zetasql.api import PreparedExpression
    from zetasql.types import AnalyzerOptions

    options = AnalyzerOptions(language_options=language_options(), default_timezone="UTC")
    catalog = Catalog().proto()
    try:
        with PreparedExpression(expression, options, catalog) as typed:
            result_type = typed.output_type
        with PreparedExpression(f"TO_JSON_STRING({expression})", options, catalog) as encoded:
            value = json.loads(encoded.execute().get_string())
    except Exception as err:  # the reference's OUT_OF_RANGE, INVALID_ARGUMENT, ...
        return "error", str(err)

    def decode(kind: str, element_type: Any, raw: Any) -> Any:
        if raw is None:
            return None
        if kind == "TYPE_ARRAY":
            inner = element_type.array_type.element_type
            return [decode(inner.type_kind.name, inner, item) for item in raw]
        if kind == "TYPE_DOUBLE":
            return float(raw)  # "Infinity", "-Infinity" and "NaN" arrive as strings
        if kind == "TYPE_NUMERIC":
            return Decimal(str(raw))
        if kind == "TYPE_TIMESTAMP":
            return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if kind == "TYPE_DATE":
            return dt.date.fromisoformat(raw)
        if kind == "TYPE_BYTES":
            return base64.b64decode(raw)
        if kind == "TYPE_INT64":
            return int(raw)
        return raw

    kind = result_type.type_kind.name
    return kind, decode(kind, result_type, value)


def connection_rows(conn: Any, query: str, parameters: dict[str, str] | None = None) -> pd.DataFrame:
    """``query`` (BigQuery SQL) run on an open local connection, as Python values: statements of
    one script share temporary tables, which live as long as the connection."""
    duck = transpile_statement(query)
    cursor = conn.execute(duck, bound_parameters(duck, parameters) or None)
    names = [d[0] for d in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=names, dtype=object)


def _sort_key(value: Any) -> str:
    """A key that orders equal rows alike on both engines (floats to 6 places, instants in UTC)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", value):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    if isinstance(value, float | Decimal) or (isinstance(value, str) and re.fullmatch(r"-?\d+\.\d+", value)):
        return f"{float(value):.6f}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_sort_key(v) for v in value) + "]"
    return str(value)


def multiset_differences(reference: pd.DataFrame, local: pd.DataFrame) -> list[Any]:
    """Rows of two results compared as multisets (both sorted by every column), value by value."""
    assert list(reference.columns) == list(local.columns) or len(reference) == 0, (
        list(reference.columns),
        list(local.columns),
    )
    if len(reference) != len(local):
        return [("rows", len(reference), len(local))]
    columns = list(local.columns)

    def ordered(frame: pd.DataFrame) -> list[dict[str, Any]]:
        records = frame.to_dict("records")
        return sorted(records, key=lambda r: [_sort_key(r[c]) for c in columns])

    return [
        (i, c, r[c], x[c])
        for i, (r, x) in enumerate(zip(ordered(reference), ordered(local), strict=True))
        for c in columns
        if not same(r[c], x[c])
    ]
