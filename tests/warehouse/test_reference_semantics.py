"""The local warehouse computes what BigQuery computes: DuckDB (after the project's transpilation)
against ZetaSQL's reference implementation of GoogleSQL, expression by expression.

The golden tests compare DuckDB with pandas computations written here; this compares it with
Google's own evaluator, for the functions and casts include/sql/ uses and the inputs where the
two engines have been seen to part (NULLs, blanks, signs, fractions of a second, bounds). A case
fails if the values differ, or if one engine fails where the other answers.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest

from tests.reference_engine import evaluate

CASES = [
    # staging: SAFE_CAST of the landed strings (what is staged and what is rejected)
    "SAFE_CAST('12' AS INT64)", "SAFE_CAST(' 12' AS INT64)", "SAFE_CAST('\\t12\\n' AS INT64)",
    "SAFE_CAST('+12' AS INT64)", "SAFE_CAST('12.5' AS INT64)", "SAFE_CAST('1e3' AS INT64)",
    "SAFE_CAST('1_0' AS INT64)", "SAFE_CAST('0x1F' AS INT64)", "SAFE_CAST('-0X1f' AS INT64)",
    "SAFE_CAST(' 0x1F ' AS INT64)", "SAFE_CAST('0x' AS INT64)", "SAFE_CAST('0x1_F' AS INT64)",
    "SAFE_CAST('0x7FFFFFFFFFFFFFFF' AS INT64)", "SAFE_CAST('0x8000000000000000' AS INT64)",
    "SAFE_CAST('-0x8000000000000000' AS INT64)", "SAFE_CAST('9223372036854775808' AS INT64)",
    "SAFE_CAST('' AS INT64)", "SAFE_CAST('1 2' AS INT64)", "SAFE_CAST('\\u00a012' AS INT64)",
    "SAFE_CAST(12.5 AS INT64)", "SAFE_CAST(-2.5 AS INT64)",
    "SAFE_CAST('1.5' AS FLOAT64)", "SAFE_CAST(' 1.5\\t' AS FLOAT64)", "SAFE_CAST('1e5' AS FLOAT64)",
    "SAFE_CAST('.5' AS FLOAT64)", "SAFE_CAST('5.' AS FLOAT64)", "SAFE_CAST('+1.5' AS FLOAT64)",
    "SAFE_CAST('-1.5E-3' AS FLOAT64)", "SAFE_CAST('inf' AS FLOAT64)", "SAFE_CAST('-Infinity' AS FLOAT64)",
    "SAFE_CAST('NaN' AS FLOAT64)", "SAFE_CAST('1e400' AS FLOAT64)", "SAFE_CAST('1e-400' AS FLOAT64)",
    "SAFE_CAST('1,5' AS FLOAT64)", "SAFE_CAST('1_000' AS FLOAT64)", "SAFE_CAST('1e1_0' AS FLOAT64)",
    "SAFE_CAST('0x1F' AS FLOAT64)", "SAFE_CAST('-0x1.8p1' AS FLOAT64)", "SAFE_CAST('0x.8' AS FLOAT64)",
    "SAFE_CAST('0x1p-2' AS FLOAT64)", "SAFE_CAST('0x' AS FLOAT64)", "SAFE_CAST('0xp3' AS FLOAT64)",
    "SAFE_CAST('1.5e' AS FLOAT64)", "SAFE_CAST('' AS FLOAT64)", "SAFE_CAST('.' AS FLOAT64)",
    "SAFE_CAST('\\u00a01.5' AS FLOAT64)", "SAFE_CAST('--1' AS FLOAT64)",
    "SAFE_CAST('96.11' AS NUMERIC)", "SAFE_CAST('\\t3.5\\n' AS NUMERIC)", "SAFE_CAST('1_000' AS NUMERIC)",
    "SAFE_CAST('1.23456789012' AS NUMERIC)", "SAFE_CAST('-1.0000000005' AS NUMERIC)",
    "SAFE_CAST('0.00000000049' AS NUMERIC)", "SAFE_CAST('1e2' AS NUMERIC)", "SAFE_CAST('.5' AS NUMERIC)",
    "SAFE_CAST('99999999999999999999999999999.5' AS NUMERIC)",
    "SAFE_CAST('100000000000000000000000000000' AS NUMERIC)", "SAFE_CAST('0x10' AS NUMERIC)",
    "SAFE_CAST('inf' AS NUMERIC)", "SAFE_CAST('' AS NUMERIC)",
    "SAFE_CAST('2026-11-01 10:00:00' AS TIMESTAMP)", "SAFE_CAST('2026-11-01T10:00:00Z' AS TIMESTAMP)",
    "SAFE_CAST('2026-11-01 10:00:00.123456' AS TIMESTAMP)",
    "SAFE_CAST('2026-11-01 10:00:00.1234567' AS TIMESTAMP)", "SAFE_CAST('2026-11-01 10:00:00+05:30' AS TIMESTAMP)",
    "SAFE_CAST('2026-2-3 1:2:3' AS TIMESTAMP)", "SAFE_CAST('2026-11-01 10:00:00 Europe/Paris' AS TIMESTAMP)",
    "SAFE_CAST('2026/11/01 10:00:00' AS TIMESTAMP)", "SAFE_CAST(' 2026-11-01 10:00:00' AS TIMESTAMP)",
    "SAFE_CAST('2026-11-31 10:00:00' AS TIMESTAMP)", "SAFE_CAST('2026-11-01 24:00:00' AS TIMESTAMP)",
    # staging: blanks and card digits
    "TRIM('  M 1  ')", "TRIM('\\tM1\\r\\n')", "TRIM('\\u00a0M1\\u3000')", "TRIM('\\u2028M1\\x0b')",
    "TRIM('\\x1cM1')", "TRIM('éM1\\u2003')", "TRIM('')", "TRIM(CAST(NULL AS STRING))", "LTRIM('\\t M1 ')",
    "RTRIM(' M1\\u3000')", "NULLIF(TRIM(' \\t '), '')", "RIGHT('4111111111111111', 4)", "RIGHT('12', 4)",
    "REGEXP_REPLACE('4111-1111 1111', r'[ -]', '')", "REGEXP_CONTAINS('41111111', r'^[0-9]{13,19}$')",
    "REGEXP_CONTAINS('4111111111111111', r'^[0-9]{13,19}$')", "REVERSE('123')",
    "STRPOS('0123456789', SUBSTR('7x', 1, 1))", "STRPOS('0123456789', '')", "SUBSTR('abcdef', 2, 3)",
    "SUBSTR('abc', -2)", "GREATEST(STRPOS('0123456789', 'x') - 1, 0)", "MOD(17, 10)", "MOD(-7, 2)",
    "TO_HEX(SHA256('4111111111111111'))", "TO_HEX(SHA256(CONCAT('run', ':', 'card')))", "CONCAT('a', NULL)",
    # features: seconds, days, windows
    "UNIX_SECONDS(TIMESTAMP '2026-11-01 10:00:00')", "UNIX_SECONDS(TIMESTAMP '2026-11-01 10:00:00.9')",
    "UNIX_SECONDS(TIMESTAMP '2026-11-01 10:00:00.999999')", "UNIX_SECONDS(TIMESTAMP '1969-12-31 23:59:59.5')",
    "UNIX_SECONDS(TIMESTAMP '1970-01-01 00:00:00')", "UNIX_MICROS(TIMESTAMP '2026-11-01 10:00:00.123456')",
    "TIMESTAMP_MICROS(1793527200123456)", "DIV(1793527200, 86400)", "DIV(1793527200 + 604800, 86400)",
    "DIV(-7, 2)", "EXTRACT(DAYOFWEEK FROM TIMESTAMP '2026-11-01 10:00:00')",
    "EXTRACT(DAYOFWEEK FROM TIMESTAMP '2026-11-07 23:59:59')", "EXTRACT(HOUR FROM TIMESTAMP '2026-11-01 23:59:59.9')",
    "TIMESTAMP_ADD(TIMESTAMP '2026-11-01 10:00:00', INTERVAL 604800 SECOND)",
    "TIMESTAMP_SUB(TIMESTAMP '2026-11-01 10:00:00', INTERVAL 3 DAY)", "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-04 10:34:56', DAY)",
    "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-04 10:34:56', HOUR)", "DATE(TIMESTAMP '2026-11-01 23:30:00')",
    "TIMESTAMP('2026-11-01 10:00:00')", "SAFE_DIVIDE(1, 0)", "SAFE_DIVIDE(3.0, 4)", "IFNULL(NULL, 0) + 1",
    "CAST(1.5 AS INT64)", "CAST(-2.5 AS INT64)", "ROUND(2.5)", "ROUND(1.2345, 2)", "ABS(-3)",
    # serving state: arrays
    "ARRAY_SLICE([1, 2, 3, 4], 1, -1)", "ARRAY_SLICE([1, 2, 3, 4], 2, 10)", "ARRAY_SLICE([1, 2, 3, 4], 0, 0)",
    "ARRAY_CONCAT([1], [2, 3])", "ARRAY_LENGTH(ARRAY<INT64>[])",
    "(SELECT COUNTIF(x) FROM UNNEST(ARRAY<BOOL>[]) AS x)", "(SELECT COUNTIF(x) FROM UNNEST([TRUE, FALSE, NULL]) AS x)",
    "(SELECT STRING_AGG(x, ',' ORDER BY x) FROM UNNEST(['b', 'a']) AS x)",
    # batch predictions
    "JSON_VALUE('{\"p\": 0.25}', '$.p')", "CAST(JSON_VALUE('{\"p\": 1e-7}', '$.p') AS FLOAT64)",
    "JSON_VALUE('{\"p\": null}', '$.p')", "JSON_VALUE('{\"p\": {\"q\": 1}}', '$.p')", "JSON_VALUE('{\"p\": true}', '$.p')",
]  # fmt: skip


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Any:
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    return BigQueryDialectDuckDBHook(database=str(tmp_path_factory.mktemp("semantics") / "w.duckdb"))


def local_value(hook: Any, expression: str) -> tuple[str, Any]:
    try:
        return "value", hook.get_records(f"SELECT {expression}")[0][0]
    except Exception as err:
        return "error", str(err)


def same(reference: Any, local: Any) -> bool:
    """Equal as values: numbers by value (INT64 3 is DuckDB's 3.0 from ROUND), NaN equals NaN,
    booleans only to booleans, timestamps as instants; lists element by element."""
    if reference is None or local is None:
        return reference is None and local is None
    if isinstance(reference, bool) or isinstance(local, bool):
        return reference is local
    if isinstance(reference, list) and isinstance(local, list):
        return len(reference) == len(local) and all(same(r, x) for r, x in zip(reference, local, strict=True))
    if isinstance(reference, float) and isinstance(local, float | int | Decimal):
        return (math.isnan(reference) and math.isnan(float(local))) or reference == float(local)
    if isinstance(reference, int | Decimal) and isinstance(local, float | int | Decimal):
        return Decimal(reference) == Decimal(str(local))
    if isinstance(reference, dt.datetime) and isinstance(local, dt.datetime):
        # DuckDB's TIMESTAMP (no zone, e.g. from MAKE_TIMESTAMP) is UTC in the hook's UTC session
        return reference == (local if local.tzinfo else local.replace(tzinfo=dt.UTC))
    return bool(reference == local)


@pytest.mark.parametrize("expression", CASES)
def test_local_warehouse_matches_googlesql_reference(local, expression):
    kind, reference = evaluate(expression)
    status, value = local_value(local, expression)
    if kind == "error" or status == "error":
        assert (kind, status) == ("error", "error"), f"reference: {reference!r}; local: {value!r}"
    else:
        assert same(reference, value), f"{kind}: reference {reference!r}, local {value!r}"


def test_the_comparison_can_fail(local):
    """DuckDB's own answers where they part from BigQuery's (without the project's fixes)."""
    import duckdb

    with duckdb.connect() as plain:
        plain.execute("SET TimeZone='UTC'")
        rounded = plain.execute(
            "SELECT CAST(EPOCH(TIMESTAMPTZ '2026-11-01 10:00:00.9') AS BIGINT)"
        ).fetchone()[0]
        trimmed = plain.execute("SELECT TRIM(chr(9) || 'M1')").fetchone()[0]
        underscored = plain.execute("SELECT TRY_CAST('1_000' AS DOUBLE)").fetchone()[0]
    assert not same(evaluate("UNIX_SECONDS(TIMESTAMP '2026-11-01 10:00:00.9')")[1], rounded)
    assert not same(evaluate("TRIM('\\tM1')")[1], trimmed)
    assert not same(evaluate("SAFE_CAST('1_000' AS FLOAT64)")[1], underscored)
