"""BigQuery Standard SQL → DuckDB, with the fixes sqlglot does not make by itself.

The SQL in ``include/sql/`` is written once, for BigQuery. Locally it runs on DuckDB after
sqlglot transpiles it. sqlglot is silent about seven differences found in our evaluation; each
is repaired here and guarded by a golden test against an independent pandas computation
(``tests/warehouse/``):

1. ``EXTRACT(DAYOFWEEK ...)`` passes through, but DuckDB counts 0-6 and BigQuery 1-7
   (Sunday first in both): we add one.
2. ``NUMERIC`` becomes a bare ``DECIMAL``, which DuckDB reads as ``DECIMAL(18,3)`` (rounds at
   three places, overflows early): we emit ``DECIMAL(38,9)``, BigQuery's NUMERIC precision.
3. ``CREATE SNAPSHOT TABLE … CLONE …`` (and ``CREATE TABLE … CLONE``) pass through verbatim
   and fail: :func:`parse_clone_ddl` recognises them and the hook writes an immutable copy.
4. DuckDB uses the OS time zone where BigQuery uses UTC: the hook sets ``TimeZone='UTC'``
   after connecting (it cannot be passed at connect time offline).
5. ``SAFE_CAST('12.5' AS INT64)`` is NULL on BigQuery but 13 on DuckDB (``TRY_CAST`` rounds):
   string inputs must look like integers before they are cast.
6. ``DIV(ts + 604800, 86400)`` becomes ``ts + 604800 // 86400`` (sqlglot 30.30 drops the
   parentheses, and ``//`` binds tighter than ``+``): compound operands are parenthesised.
   Both engines truncate toward zero, so the rest of ``DIV`` agrees.
7. ``ARRAY_SLICE(a, start, end)`` passes through, but BigQuery's offsets are 0-based and
   DuckDB's ``array_slice`` is 1-based (both inclusive, both count negative offsets from the
   end): non-negative offsets get one added.

One more BigQuery statement has no DuckDB form: ``ASSERT expr AS 'message'`` (the data-quality
gate). :func:`parse_assert` splits it; the hook evaluates ``expr`` and raises with the message.
``ALTER TABLE t SET OPTIONS (expiration_timestamp = …)`` (a model keeping its snapshot) has
none either: local snapshot files never expire, so :func:`parse_set_expiration` lets the hook
skip it (any other option is refused rather than silently dropped). Nor has a table's storage
layout (``PARTITION BY``, ``CLUSTER BY``, ``OPTIONS (require_partition_filter = …)``): DuckDB
neither partitions nor clusters, and its per-row-group min/max indexes skip what a filter
excludes. :func:`_drop_storage_layout` removes it from ``CREATE TABLE`` (sqlglot dropped it too,
but with a warning per property in every run's log); any other table option is refused.

And one function: ``AEAD.DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN(kms_key_uri, wrapped_keyset),
plaintext, aad)`` (the card pseudonym) passes through and fails. :func:`_fix_keyset_chain` maps
it to ``aead_deterministic_encrypt(kms_key_uri, wrapped_keyset, plaintext, aad)``, a Python UDF
the hook registers on every connection (:mod:`.keyed_udf`): Tink with the same keyset format,
unwrapped by the local stand-in of Cloud KMS, so DuckDB returns BigQuery's bytes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

BIGQUERY_NUMERIC = exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb")
_INTEGER_TYPES = {exp.DataType.Type.BIGINT, exp.DataType.Type.INT}
_INTEGER_STRING = "[+-]?[0-9]+"

_CLONE_DDL = re.compile(
    r"""^\s*CREATE\s+(?P<snapshot>SNAPSHOT\s+)?TABLE\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?
        (?P<target>`[^`]+`|[\w.\-]+)\s+CLONE\s+(?P<source>`[^`]+`|[\w.\-]+)
        (?P<rest>.*?)\s*;?\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class CloneDDL:
    """A BigQuery ``CREATE [SNAPSHOT] TABLE target CLONE source`` statement."""

    target: str  # dataset.table (project dropped, no backticks)
    source: str
    snapshot: bool
    if_not_exists: bool

    @property
    def target_schema(self) -> str:
        return self.target.split(".")[0]

    @property
    def target_table(self) -> str:
        return self.target.split(".")[-1]


def _strip_ref(ref: str) -> str:
    parts = ref.strip("`").split(".")
    return ".".join(parts[-2:])  # the local warehouse has no project level


_LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*\n|/\*.*?\*/))*", re.DOTALL)


def parse_clone_ddl(statement: str) -> CloneDDL | None:
    match = _CLONE_DDL.match(_LEADING_COMMENTS.sub("", statement, count=1))
    if not match:
        return None
    return CloneDDL(
        target=_strip_ref(match["target"]),
        source=_strip_ref(match["source"]),
        snapshot=bool(match["snapshot"]),
        if_not_exists=bool(match["if_not_exists"]),
    )


_ASSERT = re.compile(
    r"^\s*ASSERT\s+(?P<expr>.+?)\s+AS\s+'(?P<message>(?:[^'\\]|\\.)*)'\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class AssertStatement:
    """BigQuery ``ASSERT expr AS 'message'``: ``check_sql`` selects the expression's value."""

    check_sql: str  # BigQuery SQL
    message: str


def parse_assert(statement: str) -> AssertStatement | None:
    match = _ASSERT.match(_LEADING_COMMENTS.sub("", statement, count=1))
    if not match:
        return None
    return AssertStatement(check_sql=f"SELECT ({match['expr']})", message=match["message"])


_SET_OPTIONS = re.compile(
    r"^\s*ALTER\s+TABLE\s+(?P<target>`[^`]+`|[\w.\-]+)\s+SET\s+OPTIONS\s*\((?P<options>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def parse_set_expiration(statement: str) -> str | None:
    """The table of ``ALTER TABLE t SET OPTIONS (expiration_timestamp = …)``, else ``None``."""
    match = _SET_OPTIONS.match(_LEADING_COMMENTS.sub("", statement, count=1))
    if not match:
        return None
    options = match["options"].strip()
    if not options.lower().startswith("expiration_timestamp") or options.count("=") != 1:
        raise ValueError(f"only expiration_timestamp can be set on the local warehouse: {statement[:80]!r}")
    return _strip_ref(match["target"])


def split_statements(sql: str) -> list[str]:
    """Split a BigQuery script into statements, keeping clone DDL (unparseable) verbatim."""
    return list(_split_script(sql))


@functools.lru_cache(maxsize=256)
def _split_script(sql: str) -> tuple[str, ...]:
    return tuple(piece.strip() for piece in _split_on_semicolons(sql) if piece.strip())


def _split_on_semicolons(sql: str) -> list[str]:
    # sqlglot's tokenizer knows strings and comments, so a ';' inside them is not a split point.
    tokens = sqlglot.tokenize(sql, read="bigquery")
    pieces: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == sqlglot.TokenType.SEMICOLON:
            pieces.append(sql[start : token.start])
            start = token.end + 1
    pieces.append(sql[start:])
    return pieces


#: What BigQuery's CREATE TABLE says about storage only, with no DuckDB form.
_LAYOUT_PROPERTIES = (exp.PartitionedByProperty, exp.ClusterProperty)
_LAYOUT_OPTIONS = frozenset({"require_partition_filter"})


def _drop_storage_layout(tree: exp.Expr) -> exp.Expr:
    properties = tree.args.get("properties") if isinstance(tree, exp.Create) else None
    if properties is None:
        return tree
    kept = []
    for prop in properties.expressions:
        if isinstance(prop, _LAYOUT_PROPERTIES):
            continue
        if type(prop) is exp.Property:  # OPTIONS (name = value)
            if prop.name.lower() in _LAYOUT_OPTIONS:
                continue
            raise ValueError(
                f"table option {prop.name} has no local form; only {sorted(_LAYOUT_OPTIONS)} is dropped"
            )
        kept.append(prop)
    if kept:
        properties.set("expressions", kept)
    else:
        tree.set("properties", None)
    return tree


def _fix_dayofweek(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Extract) and node.name.upper() == "DAYOFWEEK" and not node.meta.get("bq_fixed"):
        fixed = node.copy()
        fixed.meta["bq_fixed"] = True
        return exp.Paren(this=exp.Add(this=fixed, expression=exp.Literal.number(1)))
    return node


def _fix_numeric(node: exp.Expression) -> exp.Expression:
    if (
        isinstance(node, exp.DataType)
        and node.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL)
        and not node.expressions
    ):
        return BIGQUERY_NUMERIC.copy()
    return node


def _fix_safe_cast_to_int(node: exp.Expression) -> exp.Expression:
    if not (isinstance(node, exp.TryCast) and node.to.this in _INTEGER_TYPES) or node.meta.get("bq_fixed"):
        return node
    value = node.this
    cast = node.copy()
    cast.meta["bq_fixed"] = True
    as_text = exp.cast(value.copy(), exp.DataType.build("VARCHAR"))
    is_integer_text = exp.func("REGEXP_FULL_MATCH", as_text, exp.Literal.string(_INTEGER_STRING))
    not_text = exp.NEQ(this=exp.func("TYPEOF", value.copy()), expression=exp.Literal.string("VARCHAR"))
    return exp.Case(ifs=[exp.If(this=exp.Or(this=not_text, expression=is_integer_text), true=cast)])


def _fix_int_div(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.IntDiv):
        return node
    for operand in (node.this, node.expression):
        if isinstance(operand, exp.Binary):
            operand.replace(exp.Paren(this=operand.copy()))
    return node


def _one_based(offset: exp.Expression) -> exp.Expression:
    if isinstance(offset, exp.Neg):
        return offset
    if isinstance(offset, exp.Literal) and offset.is_number:
        return exp.Literal.number(int(offset.this) + 1)
    if isinstance(offset, exp.Null):
        return offset
    plus_one = exp.Add(this=exp.Paren(this=offset.copy()), expression=exp.Literal.number(1))
    return exp.Case(
        ifs=[exp.If(this=exp.GTE(this=offset.copy(), expression=exp.Literal.number(0)), true=plus_one)],
        default=offset.copy(),
    )


def _fix_array_slice(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.ArraySlice) or node.meta.get("bq_fixed"):
        return node
    fixed = node.copy()
    fixed.meta["bq_fixed"] = True
    for arg in ("start", "end"):
        if fixed.args.get(arg) is not None:
            fixed.set(arg, _one_based(fixed.args[arg]))
    return fixed


#: Name of the DuckDB UDF standing for ``AEAD.DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN(...), ...)``.
KEYED_UDF = "aead_deterministic_encrypt"


def _is_call(node: exp.Expression, namespace: str, function: str) -> bool:
    return (
        isinstance(node, exp.Dot)
        and isinstance(node.this, exp.Identifier)
        and node.this.name.upper() == namespace
        and isinstance(node.expression, exp.Anonymous)
        and node.expression.name.upper() == function
    )


def _bytes_argument(node: exp.Expression) -> exp.Expression:
    """A BigQuery BYTES literal (``b'\\x..'``, sqlglot keeps one char per byte) → ``from_base64``."""
    if isinstance(node, exp.ByteString):
        raw = node.this.encode("latin-1")
        return exp.FromBase64(this=exp.Literal.string(base64.b64encode(raw).decode()))
    return node


def _fix_keyset_chain(node: exp.Expression) -> exp.Expression:
    if not _is_call(node, "AEAD", "DETERMINISTIC_ENCRYPT"):
        return node
    args = node.expression.expressions
    if len(args) != 3 or not _is_call(args[0], "KEYS", "KEYSET_CHAIN"):
        raise ValueError("AEAD.DETERMINISTIC_ENCRYPT is supported with KEYS.KEYSET_CHAIN(uri, keyset) only")
    kms_key_uri, keyset = args[0].expression.expressions
    return exp.Anonymous(
        this=KEYED_UDF,
        expressions=[kms_key_uri.copy(), _bytes_argument(keyset.copy()), args[1].copy(), args[2].copy()],
    )


@functools.lru_cache(maxsize=4096)
def transpile_statement(statement: str) -> str:
    """One BigQuery statement → one DuckDB statement (clone DDL is handled by the hook).

    Remembered per process: a run renders the same statements file after file (parameters are
    bound, not inlined), and sqlglot took ~30 ms a statement, about half the CPU of the
    incremental equivalence test (:func:`transpile_cached` keeps them across processes).
    """
    tree = _drop_storage_layout(sqlglot.parse_one(statement, read="bigquery"))
    tree = tree.transform(_fix_numeric)
    tree = tree.transform(_fix_dayofweek)
    tree = tree.transform(_fix_keyset_chain)
    tree = tree.transform(_fix_int_div)
    tree = tree.transform(_fix_array_slice)
    duck = sqlglot.parse_one(tree.sql(dialect="duckdb"), read="duckdb")
    # TRY_CAST only exists after the dialect switch, so fix it on the DuckDB tree.
    duck = duck.transform(_fix_safe_cast_to_int)
    return duck.sql(dialect="duckdb")


@functools.lru_cache(maxsize=4096)
def transpile_cached(statement: str, cache_dir: Path) -> str:
    """:func:`transpile_statement`, kept in ``cache_dir`` for the next process: every Airflow task
    is one, and transpiles what the same task transpiled in the last run. Keyed by the statement,
    sqlglot's version and this module's source, so a change to either transpiles anew."""
    path = cache_dir / f"{_cache_key(statement)}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        pass
    duck = transpile_statement(statement)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:  # written whole, then renamed: a reader never sees half a statement
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial.write_text(duck, encoding="utf-8")
        os.replace(partial, path)
    except OSError:  # a read-only or full disk costs the next process a transpile, nothing more
        partial.unlink(missing_ok=True)
    return duck


@functools.cache
def _code_version() -> str:
    return hashlib.sha256(sqlglot.__version__.encode() + b"\0" + Path(__file__).read_bytes()).hexdigest()


def _cache_key(statement: str) -> str:
    return hashlib.sha256(f"{_code_version()}\0{statement}".encode()).hexdigest()


_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def referenced_parameters(duckdb_sql: str) -> set[str]:
    """Named parameters (``$name``) a transpiled statement uses; DuckDB rejects extra ones."""
    return set(_PARAMETER.findall(duckdb_sql))
