"""What BigQuery's on-demand billing would count for the statements the local warehouse runs.

There is no BigQuery here, so no dry run: this meter reads each statement's DuckDB plan (``EXPLAIN``
after the transpilation, parameters bound) for the tables it scans, the columns it reads and its
constant filters on a partitioned table's partitioning column, and sizes those columns in the
local warehouse's rows by BigQuery's rules, before the statement runs:

* data sizes (BigQuery docs, "Data type sizes"): INT64, FLOAT64, TIMESTAMP, DATE 8 bytes, NUMERIC
  16, BOOL 1, STRING 2 + its UTF-8 bytes, an ARRAY the sum of its elements, NULL 0;
* a scan of a partitioned table reads only the days its constant filters name (partition
  pruning; clustering prunes further when billed, which a dry run does not show either);
* DML (docs, "On-demand query size calculation"): UPDATE, DELETE and a MERGE with an UPDATE or
  DELETE clause also bill the target's whole size (every column; for a partitioned target, of
  the partitions its filters name), an INSERT only what it reads;
* billed: at least 10 MB per table read and per statement (each statement of a script is a job).

It is an estimate of the SQL's reads, not of BigQuery's plan: DuckDB's optimizer decides which
columns a scan keeps (as BigQuery's does); a table a statement scans more than once counts once,
with the columns and days of all its scans (a dry run counts the columns a query references).
Loads (free on BigQuery) scan no table and count nothing; nor do reads of a local snapshot,
a Parquet file here (on BigQuery a table). Used by ``bench/bench_bigquery_bytes.py`` and
``tests/ingestion/test_partitions_read.py``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: BigQuery's minimum billed bytes per table read and per query (on-demand).
MIN_BILLED_BYTES = 10 * 1024 * 1024
_FIXED_SIZES = {
    "BIGINT": 8, "INTEGER": 8, "HUGEINT": 8, "DOUBLE": 8, "FLOAT": 8, "DATE": 8,
    "TIMESTAMP": 8, "TIMESTAMP WITH TIME ZONE": 8, "BOOLEAN": 1,
}  # fmt: skip
_EARLIEST, _LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
_BOUND = re.compile(r"\(?(?P<column>\w+) (?P<op>>=|>|<=|<|=) '(?P<value>[^']+)'::TIMESTAMP WITH TIME ZONE\)?")
_DML_TARGET = re.compile(r'^\s*(?:DELETE\s+FROM|UPDATE|MERGE\s+INTO)\s+(?P<table>[\w."]+)', re.IGNORECASE)
_NOT_BILLED = re.compile(
    r"^\s*(?:COPY|SET|RESET|PRAGMA|ATTACH|DETACH|BEGIN|COMMIT|ROLLBACK|DROP|CREATE\s+SCHEMA)\b", re.I
)


def partitioning(setup_sql: str) -> dict[str, str]:
    """Table name → partitioning column, from the ``PARTITION BY DATE(column)`` clauses of the
    (BigQuery) setup SQL: the one place the project declares them (00_setup.sql, as infra/)."""
    import sqlglot
    from sqlglot import exp

    found = {}
    for statement in sqlglot.parse(setup_sql, read="bigquery"):
        if not isinstance(statement, exp.Create):
            continue
        partitioned = statement.find(exp.PartitionedByProperty)
        if partitioned is None:
            continue
        column = partitioned.find(exp.Column)
        table = statement.find(exp.Table)
        if column is not None and table is not None:
            found[table.name] = column.name
    return found


def value_size_sql(expression: str, duck_type: str) -> str:
    """SQL for the BigQuery logical size of ``expression`` (a DuckDB value of ``duck_type``)."""
    if duck_type.endswith("[]"):
        element = value_size_sql("x", duck_type[:-2])
        return f"IFNULL(list_sum(list_transform({expression}, lambda x: {element})), 0)"
    if duck_type == "VARCHAR":  # strlen: UTF-8 bytes
        return f"IF({expression} IS NULL, 0, 2 + strlen({expression}))"
    if duck_type == "BLOB":
        return f"IF({expression} IS NULL, 0, 2 + octet_length({expression}))"
    if duck_type.startswith("DECIMAL"):
        size = 16
    elif duck_type in _FIXED_SIZES:
        size = _FIXED_SIZES[duck_type]
    else:
        raise ValueError(f"no BigQuery size for DuckDB type {duck_type}")
    return f"IF({expression} IS NULL, 0, {size})"


@dataclass(frozen=True)
class TableRead:
    """One table a statement reads: the columns, and the days read when it is partitioned."""

    table: str
    columns: tuple[str, ...]
    days: tuple[datetime, datetime] | None  # bounds of the partitions read (UTC days); None: all
    bytes: int


@dataclass
class StatementBytes:
    """One statement's estimate: what it reads (q) and, for UPDATE/DELETE/MERGE, the target (t)."""

    sql: str
    label: str
    reads: list[TableRead] = field(default_factory=list)
    target_bytes: int = 0

    @property
    def processed(self) -> int:
        return sum(r.bytes for r in self.reads) + self.target_bytes

    @property
    def billed(self) -> int:
        if self.processed == 0:
            return 0  # metadata only (COUNT(*), an empty increment): BigQuery bills nothing
        per_table = sum(max(r.bytes, MIN_BILLED_BYTES) for r in self.reads if r.bytes)
        return max(per_table + self.target_bytes, MIN_BILLED_BYTES)


class BytesMeter:
    """Sizes, on a DuckDB connection, what each statement would read on BigQuery (see module)."""

    def __init__(self, partitioned_by: Mapping[str, str]) -> None:
        self.partitioned_by = dict(partitioned_by)
        self.statements: list[StatementBytes] = []
        self.label = ""

    @contextlib.contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        """Statements run inside are reported under ``label`` (a step: "20_staging.sql")."""
        before, self.label = self.label, label
        try:
            yield
        finally:
            self.label = before

    def observe(self, conn: Any, sql: str, parameters: Any = None) -> StatementBytes | None:
        """Estimate ``sql`` (DuckDB SQL, about to run on ``conn``) from the tables as they are now."""
        bare = _without_comments(sql)
        if _NOT_BILLED.match(bare):
            return None
        # Without the statistics optimizer: it drops filters the data always meets, and BigQuery
        # bills a filter's columns whatever the data.
        conn.execute("SET disabled_optimizers = 'statistics_propagation'")
        try:
            plan = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", parameters or {}).fetchall()
        except Exception:  # statements DuckDB cannot explain (CREATE TABLE without AS, ...) read nothing
            return None
        finally:
            conn.execute("RESET disabled_optimizers")
        scans = [
            _scan(node) for node in _nodes(json.loads(plan[0][1])) if "Table" in node.get("extra_info", {})
        ]
        by_table: dict[str, list[tuple[list[str], list[str]]]] = defaultdict(list)
        for table, columns, filters in scans:
            by_table[table].append((columns, filters))
        # A table is counted once a statement, its columns and days those of all its scans
        # together (a dry run counts the bytes of the columns a query references).
        reads = [self._read(conn, table, table_scans) for table, table_scans in by_table.items()]
        statement = StatementBytes(sql=sql, label=self.label, reads=[r for r in reads if r is not None])
        target = _DML_TARGET.match(bare)
        if target and (not bare.upper().startswith("MERGE") or _merge_rewrites(bare)):
            name = target.group("table")
            unfiltered: list[tuple[list[str], list[str]]] = [([], [])]
            target_scans = next((v for table, v in by_table.items() if _same_table(table, name)), unfiltered)
            whole = self._read(conn, name, target_scans, every_column=True)
            statement.target_bytes = whole.bytes if whole else 0
        self.statements.append(statement)
        return statement

    def _read(
        self, conn: Any, table: str, scans: list[tuple[list[str], list[str]]], *, every_column: bool = False
    ) -> TableRead | None:
        schema = _columns(conn, table)
        if not schema:
            return None
        used = set(schema) if every_column else {c for columns, _ in scans for c in columns if c in schema}
        used |= {
            c for c in schema for _, filters in scans for f in filters if re.search(rf"\b{re.escape(c)}\b", f)
        }
        partition_column = self.partitioned_by.get(_bare_name(table))
        days = None
        if partition_column:
            ranges = [_days(partition_column, filters) for _, filters in scans]
            bounded = [r for r in ranges if r is not None]
            if len(bounded) == len(ranges):
                named = [r for r in bounded if r[0] <= r[1]]
                if not named:  # every scan's bounds leave no partition: nothing is read
                    return TableRead(table, tuple(sorted(used)), None, 0)
                days = (min(r[0] for r in named), max(r[1] for r in named))
        if not used:
            return TableRead(table, (), days, 0)
        sizes = " + ".join(value_size_sql(f'"{c}"', schema[c]) for c in sorted(used))
        where = ""
        if days is not None:
            where = (
                f' WHERE CAST("{partition_column}" AS DATE)'
                f" BETWEEN DATE '{days[0].date().isoformat()}' AND DATE '{days[1].date().isoformat()}'"
            )
        (size,) = conn.execute(f"SELECT IFNULL(SUM({sizes}), 0) FROM {_quoted(table)}{where}").fetchone()
        return TableRead(table, tuple(sorted(used)), days, int(size))


def _days(column: str, filters: list[str]) -> tuple[datetime, datetime] | None:
    """The first and last instant a scan's constant bounds on ``column`` leave (BigQuery reads
    the days from the first's to the last's); None: no bound, every partition."""
    lower, upper = _EARLIEST, _LATEST
    bounded = False
    for text in filters:
        for bound in _BOUND.finditer(text):
            if bound.group("column") != column:
                continue
            bounded = True
            op, value = bound.group("op"), _timestamp(bound.group("value"))
            if op in (">=", ">", "="):
                lower = max(lower, value)
            if op in ("<=", "="):
                upper = min(upper, value)
            if op == "<":
                if value <= _EARLIEST:  # no instant lies before it: no partition
                    return _LATEST, _EARLIEST
                upper = min(upper, value - timedelta(microseconds=1))
    if not bounded:
        return None
    return lower, upper  # lower after upper: no partition


def _timestamp(value: str) -> datetime:
    """A DuckDB TIMESTAMP WITH TIME ZONE literal (``2026-09-01 00:00:00+00``; the session is UTC)."""
    if re.search(r"[+-]\d\d$", value):
        value += ":00"
    return datetime.fromisoformat(value)


def _merge_rewrites(sql: str) -> bool:
    """A MERGE bills its target's size when it has an UPDATE or DELETE clause (docs)."""
    return bool(re.search(r"\bTHEN\s+(UPDATE|DELETE)\b", sql, re.IGNORECASE))


def _nodes(plan: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in plan:
        yield node
        yield from _nodes(node.get("children", []))


def _scan(node: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    info = node["extra_info"]
    projections, filters = info.get("Projections", []), info.get("Filters", [])
    as_list = [projections] if isinstance(projections, str) else projections
    return info["Table"], [p for p in as_list if p], [filters] if isinstance(filters, str) else filters


def _parts(table: str) -> list[str]:
    return [p.strip('"') for p in re.findall(r'"[^"]+"|[^.]+', table)]


def _bare_name(table: str) -> str:
    return _parts(table)[-1]


def _same_table(scanned: str, named: str) -> bool:
    a, b = _parts(scanned), _parts(named)
    return a[-len(b) :] == b


def _quoted(table: str) -> str:
    return ".".join(f'"{p}"' for p in _parts(table))


def _columns(conn: Any, table: str) -> dict[str, str]:
    parts = _parts(table)
    rows = conn.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?"
        + (" AND schema_name = ?" if len(parts) > 1 else ""),
        [parts[-1], *([parts[-2]] if len(parts) > 1 else [])],
    ).fetchall()
    return dict(rows)


def _without_comments(sql: str) -> str:
    return re.sub(r"/\*.*?\*/|--[^\n]*", "", sql, flags=re.DOTALL).lstrip()


class _MeteredConnection:
    """A DuckDB connection whose statements are estimated before they run."""

    def __init__(self, conn: Any, meter: BytesMeter) -> None:
        self._conn, self._meter = conn, meter

    def execute(self, sql: str, parameters: Any = None) -> Any:
        self._meter.observe(self._conn, sql, parameters)
        return self._conn.execute(sql, parameters) if parameters is not None else self._conn.execute(sql)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@contextlib.contextmanager
def metering(meter: BytesMeter) -> Iterator[BytesMeter]:
    """Meter every statement of every local warehouse hook built inside, wherever it is built (the
    plan step and the check tasks build their own)."""
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    original = BigQueryDialectDuckDBHook.get_conn

    def get_conn(self: BigQueryDialectDuckDBHook) -> Any:
        return _MeteredConnection(original(self), meter)

    BigQueryDialectDuckDBHook.get_conn = get_conn  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        BigQueryDialectDuckDBHook.get_conn = original  # type: ignore[method-assign]
