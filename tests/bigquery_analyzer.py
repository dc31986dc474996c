"""Google's SQL analyzer over the gcp target's SQL, statement by statement, offline.

BigQuery's dialect is GoogleSQL, whose reference implementation is ZetaSQL; the ``zetasql``
package runs ZetaSQL's own analyzer (its local service, built to WebAssembly). Analysis is what
BigQuery does before it runs a statement: it parses it, resolves every table, column, function
and query parameter, and type-checks every expression. A statement it refuses would fail on
BigQuery; DuckDB, which runs the same files locally after transpilation, accepts much that
BigQuery refuses (a misspelt function it happens to have, QUALIFY with no WHERE, a comparison of
mismatched types), so only this check sees those before Composer does.

The catalog holds what the statements read, declared where BigQuery gets it from:
* tables and views created by SQL (``00_setup.sql`` and every ``CREATE`` of the files analyzed,
  each as the analyzer resolved it), and ``DROP`` removes them; temporary tables last one file;
* load tables, with the schema of the load job (:func:`load_job_configuration`);
* tables written from Arrow through a Parquet load (``replace_table``), with the types a Parquet
  load gives their columns (:data:`PARQUET_LOAD_TYPES`);
* tables other services write (Cloud Logging's export, Vertex's batch output), declared by the
  test from those services' documented shapes;
* every ``@parameter`` as STRING, as the operators and the warehouse client send them.
It is ZetaSQL with every released language feature but sub-microsecond timestamps, and the
external product mode (BigQuery's types: FLOAT64, no INT32).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Arrow types → the BigQuery type a Parquet load job gives the column (timestamps with a time
#: zone are Parquet's UTC-adjusted TIMESTAMP, hence BigQuery TIMESTAMP).
PARQUET_LOAD_TYPES = {
    "string": "TYPE_STRING", "large_string": "TYPE_STRING", "int64": "TYPE_INT64", "double": "TYPE_DOUBLE",
    "bool": "TYPE_BOOL", "binary": "TYPE_BYTES", "timestamp[us, tz=UTC]": "TYPE_TIMESTAMP", "date32[day]": "TYPE_DATE",
}  # fmt: skip
#: BigQuery load-job schema types → ZetaSQL type kinds.
LOAD_SCHEMA_TYPES = {"STRING": "TYPE_STRING", "INT64": "TYPE_INT64", "INTEGER": "TYPE_INT64",
                     "FLOAT64": "TYPE_DOUBLE", "FLOAT": "TYPE_DOUBLE", "TIMESTAMP": "TYPE_TIMESTAMP",
                     "BOOL": "TYPE_BOOL", "BOOLEAN": "TYPE_BOOL", "BYTES": "TYPE_BYTES", "DATE": "TYPE_DATE"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """A statement the analyzer refused, with where it stands in its file."""

    file: str
    statement: int
    first_line: str
    error: str

    def __str__(self) -> str:
        return f"{self.file} statement {self.statement} ({self.first_line}): {self.error}"


@functools.cache
def language_options() -> Any:
    """Every released ZetaSQL feature but nanosecond and picosecond timestamps, BigQuery's external
    product mode, and the encryption functions (``KEYS.KEYSET_CHAIN``, ``DETERMINISTIC_ENCRYPT``),
    which ZetaSQL gates on a feature."""
    from zetasql.types import LanguageOptions
    from zetasql.types.proto_model import LanguageFeature, ProductMode

    _allow_deep_messages()
    options = LanguageOptions.maximum_features()  # starts the WebAssembly service (~10 s)
    options.product_mode = ProductMode.PRODUCT_EXTERNAL
    if LanguageFeature.FEATURE_ENCRYPTION not in options.enabled_language_features:
        options.enabled_language_features.append(LanguageFeature.FEATURE_ENCRYPTION)
    # BigQuery's TIMESTAMP holds microseconds: a seventh fractional digit is an error there
    not_bigquery = {LanguageFeature.FEATURE_TIMESTAMP_NANOS, LanguageFeature.FEATURE_TIMESTAMP_PICOS}
    options.enabled_language_features = [
        f for f in options.enabled_language_features if f not in not_bigquery
    ]
    return options


def _allow_deep_messages() -> None:
    """Let protobuf read the analyzer's answers: the resolved tree of a statement with a dozen
    CTEs nests deeper than protobuf's default limit of 100 messages."""
    from google.protobuf.internal import api_implementation

    if api_implementation.Type() == "upb":
        from google._upb import _message

        _message.SetAllowOversizeProtos(True)  # upb's depth limit becomes 65,535
    else:
        from google.protobuf.internal import decoder

        decoder.SetRecursionLimit(10_000)


def scalar_type(kind: str) -> Any:
    import zetasql.types as zt

    return zt.Type(type_kind=getattr(zt.TypeKind, kind))


@dataclass
class Catalog:
    """Tables by the name the SQL gives them (``project.dataset.table``, or a temp table's name)."""

    tables: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def add(self, name: str, columns: Iterable[tuple[str, Any]]) -> None:
        self.tables[name] = list(columns)

    def add_load_table(self, name: str, schema_fields: Sequence[Mapping[str, str]]) -> None:
        self.add(name, [(f["name"], scalar_type(LOAD_SCHEMA_TYPES[f["type"]])) for f in schema_fields])

    def add_parquet_load(self, name: str, arrow_schema: Any) -> None:
        columns = []
        for arrow_field in arrow_schema:
            kind = PARQUET_LOAD_TYPES.get(str(arrow_field.type))
            if kind is None:  # e.g. a list: a Parquet load without list inference nests it
                raise ValueError(f"{name}.{arrow_field.name}: no declared load type for {arrow_field.type}")
            columns.append((arrow_field.name, scalar_type(kind)))
        self.add(name, columns)

    def proto(self) -> Any:
        from zetasql.api import TableBuilder
        from zetasql.types import SimpleCatalog, ZetaSQLBuiltinFunctionOptions

        options = ZetaSQLBuiltinFunctionOptions(language_options=language_options())
        root = SimpleCatalog(name="bigquery", table=[], builtin_function_options=options)
        for name, columns in self.tables.items():
            table = TableBuilder(name)
            for column, column_type in columns:
                table.add_column(column, column_type)
            root.table.append(table.build())
        return root

    def record(self, resolved: Any) -> None:
        """Keep what a CREATE made (as resolved) and forget what a DROP removed."""
        kind = type(resolved).__name__
        name = ".".join(getattr(resolved, "name_path", []) or [])
        if kind == "ResolvedCreateTableStmt":
            self.add(name, [(c.name, c.type) for c in resolved.column_definition_list])
        elif kind in ("ResolvedCreateTableAsSelectStmt", "ResolvedCreateViewStmt"):
            self.add(name, [(c.name, c.column.type) for c in resolved.output_column_list])
        elif kind == "ResolvedCreateSnapshotTableStmt":
            self.add(name, [(c.name, c.type) for c in resolved.clone_from.column_list])
        elif kind == "ResolvedDropStmt":
            self.tables.pop(name, None)


def statements(sql: str) -> Iterator[tuple[int, str]]:
    """(index, text) of each statement of a script, split by ZetaSQL's own parser."""
    from zetasql.api import Parser
    from zetasql.types import ParseResumeLocation

    location = ParseResumeLocation(input=sql, byte_position=0)
    encoded = sql.encode()  # the parser's positions count UTF-8 bytes
    index = 0
    while _has_code(encoded[location.byte_position :].decode()):
        start = location.byte_position
        Parser.parse_next_statement_static(location, language_options())
        if location.byte_position <= start:
            raise ValueError(f"the parser did not move past byte {start}")
        yield index, encoded[start : location.byte_position].decode().strip().rstrip(";")
        index += 1


#: What BigQuery runs inside a multi-statement transaction (Google's "Statements supported in
#: transactions"): queries, DML, and DDL on temporary entities only (temporary tables here; a
#: DROP is not told apart from a permanent table's, so none is listed).
TRANSACTION_STATEMENTS = frozenset(
    {"ASTQueryStatement", "ASTInsertStatement", "ASTUpdateStatement", "ASTDeleteStatement",
     "ASTMergeStatement", "ASTTruncateStatement", "temporary ASTCreateTableStatement"}
)  # fmt: skip


def statements_in_transactions(sql: str) -> list[tuple[int, str]]:
    """(index, parse-tree kind) of each statement between BEGIN TRANSACTION and COMMIT."""
    from zetasql.api import Parser

    inside, found = False, []
    for index, text in statements(sql):
        tree = Parser.parse_statement_static(text, language_options())
        kind = type(tree).__name__
        if kind == "ASTCreateTableStatement" and getattr(tree.scope, "name", "") == "TEMPORARY":
            kind = "temporary ASTCreateTableStatement"
        if kind == "ASTBeginStatement":
            inside = True
        elif kind in ("ASTCommitStatement", "ASTRollbackStatement"):
            inside = False
        elif inside:
            found.append((index, kind))
    return found


def parameter_names(sql: str) -> set[str]:
    """The ``@parameters`` a BigQuery statement or script names (comments aside)."""
    return set(re.findall(r"@(\w+)", _without_comments(sql)))


def _has_code(rest: str) -> bool:
    """Whether ``rest`` holds more than comments, whitespace and semicolons."""
    return bool(_without_comments(rest).strip(" \t\n;"))


def analyze_script(file: str, sql: str, catalog: Catalog, *, keep_temporary: bool = False) -> list[Finding]:
    """Analyze each statement of ``sql`` in order, as one BigQuery script: what a statement
    creates is in the catalog for the next, and its temporary tables end with the script
    (unless ``keep_temporary``: a script analyzed one statement at a time)."""
    from zetasql.api import Analyzer
    from zetasql.types import AnalyzerOptions

    parameters = [
        AnalyzerOptions.QueryParameter(name=name, type=scalar_type("TYPE_STRING"))
        for name in sorted(parameter_names(sql))
    ]
    options = AnalyzerOptions(
        language_options=language_options(), query_parameters=parameters, default_timezone="UTC"
    )
    findings: list[Finding] = []
    before = set(catalog.tables)
    try:
        for index, text in statements(sql):
            first_line = next(
                (
                    line.strip()
                    for line in text.splitlines()
                    if line.strip() and not line.strip().startswith("--")
                ),
                "",
            )[:80]
            try:
                resolved = Analyzer(options, catalog.proto()).analyze_statement(text)
            except Exception as err:  # the analyzer's INVALID_ARGUMENT: what BigQuery would answer
                findings.append(Finding(file, index, first_line, str(err)))
                continue
            catalog.record(resolved)
    except Exception as err:  # a statement the parser could not split off
        findings.append(Finding(file, -1, "", f"parse: {err}"))
    for name in set(catalog.tables) - before:
        if "." not in name and not keep_temporary:  # temporary tables (unqualified) end with it
            catalog.tables.pop(name)
    return findings


def _without_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.DOTALL)
