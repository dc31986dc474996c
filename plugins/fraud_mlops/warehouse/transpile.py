"""BigQuery Standard SQL → DuckDB, with the fixes sqlglot does not make by itself.

The SQL in ``include/sql/`` is written once, for BigQuery. Locally it runs on DuckDB after
sqlglot transpiles it. sqlglot is silent about twelve differences found so far; each is
repaired here and guarded by a golden test against an independent pandas computation
(``tests/warehouse/``), and the functions and casts the SQL uses are compared with ZetaSQL's
reference implementation of BigQuery's dialect (``tests/warehouse/test_reference_semantics.py``):

1. ``EXTRACT(DAYOFWEEK ...)`` passes through, but DuckDB counts 0-6 and BigQuery 1-7
   (Sunday first in both): we add one.
2. ``NUMERIC`` becomes a bare ``DECIMAL``, which DuckDB reads as ``DECIMAL(18,3)`` (rounds at
   three places, overflows early): we emit ``DECIMAL(38,9)``, BigQuery's NUMERIC precision.
3. ``CREATE SNAPSHOT TABLE … CLONE …`` (and ``CREATE TABLE … CLONE``) pass through verbatim
   and fail: :func:`parse_clone_ddl` recognises them and the hook writes an immutable copy.
4. DuckDB uses the OS time zone where BigQuery uses UTC: the hook sets ``TimeZone='UTC'``
   after connecting (it cannot be passed at connect time offline).
5. ``SAFE_CAST('12.5' AS INT64)`` is NULL on BigQuery but 13 on DuckDB (``TRY_CAST`` rounds):
   string inputs must look like integers before they are cast, as BigQuery reads them (ASCII
   blanks around, a sign, decimal digits or ``0x`` hex).
6. ``DIV(ts + 604800, 86400)`` becomes ``ts + 604800 // 86400`` (sqlglot 30.30 drops the
   parentheses, and ``//`` binds tighter than ``+``): compound operands are parenthesised.
   Both engines truncate toward zero, so the rest of ``DIV`` agrees.
7. ``ARRAY_SLICE(a, start, end)`` passes through, but BigQuery's offsets are 0-based and
   DuckDB's ``array_slice`` is 1-based (both inclusive, both count negative offsets from the
   end): non-negative offsets get one added.
8. ``SAFE_CAST(s AS TIMESTAMP)`` of a string becomes ``TRY_CAST``, and DuckDB reads strings
   BigQuery refuses (``2026/11/01 10:00:00``, ``10:00`` without seconds, ``24:00:00``, seven
   fractional digits, ``epoch``, ``infinity``, surrounding spaces) and refuses some it reads
   (a lower-case ``t`` or ``z``, ``+1`` or ``+5:30`` offsets, a leap second): a staging row would
   load on one target and be ``bad_event_time`` on the other. Strings in the common form go to
   DuckDB's cast after one regular-expression match; the rest are parsed by BigQuery's grammar
   (ZetaSQL's ``ParseStringToTimestampParts``) and rebuilt in a form DuckDB reads the same way.
9. ``COUNTIF`` becomes DuckDB's ``COUNT_IF``, which is NULL over no rows, where BigQuery's is 0
   (ZetaSQL compliance test ``countif_empty_input``): it becomes ``COUNT(CASE WHEN … THEN 1 END)``,
   0 over no rows in an aggregate and in a window alike.
10. ``UNIX_SECONDS(t)`` floors to the second; sqlglot's ``CAST(EPOCH(t) AS BIGINT)`` rounds, so an
    event at ``10:00:00.9`` fell in the next second and every window over it moved (serving's
    ``int(t.timestamp())`` floors, as BigQuery does): ``CAST(FLOOR(EPOCH(t)) AS BIGINT)``.
11. ``TRIM(s)`` (and ``LTRIM``, ``RTRIM``) of one argument removes Unicode white space on
    BigQuery (tab, newline, no-break space, ideographic space, ...), only spaces on DuckDB: the
    set is passed, for values whose ends are not printable ASCII.
12. ``SAFE_CAST(s AS FLOAT64)`` and ``AS NUMERIC``: DuckDB reads ``1_000``, BigQuery does not; and
    BigQuery's FLOAT64 reads strtod's hex floats (``0x1F``, ``0x1.8p1``), DuckDB does not.

One more BigQuery statement has no DuckDB form: ``ASSERT expr AS 'message'`` (the data-quality
gate). :func:`parse_assert` splits it; the hook evaluates ``expr`` and raises with the message.
``ALTER TABLE t SET OPTIONS (expiration_timestamp = …)`` (a model keeping its snapshot) has
none either: local snapshot files never expire, so :func:`parse_set_expiration` lets the hook
skip it (any other option is refused rather than silently dropped). Nor has a table's storage
layout (``PARTITION BY``, ``CLUSTER BY``, ``OPTIONS (require_partition_filter = …)``): DuckDB
neither partitions nor clusters, and its per-row-group min/max indexes skip what a filter
excludes. :func:`_drop_storage_layout` removes it from ``CREATE TABLE`` (sqlglot dropped it too,
but with a warning per property in every run's log); any other table option is refused.

And one function: ``DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN(kms_key_uri, wrapped_keyset),
plaintext, aad)`` (the card pseudonym) passes through and fails. :func:`_fix_keyset_chain` maps
it to ``deterministic_encrypt(kms_key_uri, wrapped_keyset, plaintext, aad)``, a Python UDF
the hook registers on every connection (:mod:`.keyed_udf`): Tink with the same keyset format,
unwrapped by the local stand-in of Cloud KMS, so DuckDB returns BigQuery's bytes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

BIGQUERY_NUMERIC = exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb")
_INTEGER_TYPES = {exp.DataType.Type.BIGINT, exp.DataType.Type.INT}
#: The blanks BigQuery's numeric casts skip around a number (ZetaSQL: ASCII whitespace), in RE2.
_CAST_BLANKS = r"[\t\n\v\f\r ]*"
_INTEGER_STRING = _CAST_BLANKS + "[+-]?[0-9]+" + _CAST_BLANKS
_HEX_INTEGER_STRING = _CAST_BLANKS + "([+-]?)0[xX]([0-9a-fA-F]+)" + _CAST_BLANKS
#: strtod's hexadecimal floats, which BigQuery's FLOAT64 cast reads: sign, digits, an optional
#: fraction and an optional binary exponent (``0x1F``, ``-0x1.8p3``, ``0x.8``).
_HEX_FLOAT_STRING = (
    _CAST_BLANKS + r"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?" + _CAST_BLANKS
)
#: What BigQuery's one-argument TRIM removes: Unicode's White_Space characters (asked of ZetaSQL
#: for every code point; DuckDB's TRIM removes spaces only).
UNICODE_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

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


_CREATES_IN_DATASET = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SNAPSHOT\s+|MATERIALIZED\s+)?(?:TABLE|VIEW)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?`(?P<name>[^`]+)`",
    re.IGNORECASE,
)


def dataset_created_in(statement: str) -> str | None:
    """The dataset of the table or view a ``CREATE`` statement makes, else ``None``.

    Datasets are infrastructure, not SQL: on gcp infra/ creates them, and the account running
    the SQL may not (``CREATE SCHEMA`` needs ``bigquery.datasets.create`` on the project, even
    with ``IF NOT EXISTS``). DuckDB needs a schema before a table, so the hook creates a
    dataset's schema the first time a statement creates something in it. A temporary table
    names no dataset.
    """
    match = _CREATES_IN_DATASET.match(_LEADING_COMMENTS.sub("", statement, count=1))
    if not match or match["name"].count(".") == 0:
        return None
    return _strip_ref(match["name"]).split(".")[0]


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


def _not_text(value: exp.Expression) -> exp.Expression:
    return exp.NEQ(this=exp.func("TYPEOF", value.copy()), expression=exp.Literal.string("VARCHAR"))


def _as_text(value: exp.Expression) -> exp.Expression:
    """``value`` as VARCHAR: binds for any input type (only VARCHAR inputs reach its uses)."""
    return exp.cast(value.copy(), exp.DataType.build("VARCHAR"))


def _matches(value: exp.Expression, pattern: str) -> exp.Expression:
    return _as_expression(exp.func("REGEXP_FULL_MATCH", _as_text(value), exp.Literal.string(pattern)))


def _group(value: exp.Expression, pattern: str, group: int) -> exp.Expression:
    return exp.RegexpExtract(
        this=_as_text(value), expression=exp.Literal.string(pattern), group=exp.Literal.number(group)
    )


def _signed(value: exp.Expression, pattern: str, magnitude: exp.Expression) -> exp.Expression:
    """``magnitude`` negated when group 1 of ``pattern`` (the sign) is ``-``."""
    negative = exp.EQ(this=_group(value, pattern, 1), expression=exp.Literal.string("-"))
    return exp.Case(ifs=[exp.If(this=negative, true=exp.Neg(this=exp.paren(magnitude)))], default=magnitude)


def _try_cast_to(node: exp.Expression, types: Collection[Any]) -> exp.TryCast | None:
    """``node`` if it is a ``TRY_CAST`` to one of ``types`` not yet rewritten, else None."""
    if isinstance(node, exp.TryCast) and node.to.this in types and not node.meta.get("bq_fixed"):
        return node
    return None


def _rewritten(cast: exp.TryCast) -> exp.TryCast:
    """A copy of ``cast`` the rewrite that built it will not visit again."""
    copy = cast.copy()
    copy.meta["bq_fixed"] = True
    return copy


def _fix_safe_cast_to_int(node: exp.Expression) -> exp.Expression:
    """``SAFE_CAST(s AS INT64)`` reads what BigQuery reads: decimal digits or ``0x`` hex with an
    optional sign, between ASCII blanks; not ``12.5`` (DuckDB rounds it to 13) nor ``1_0``."""
    if (found := _try_cast_to(node, _INTEGER_TYPES)) is None:
        return node
    value, cast = found.this, _rewritten(found)
    hugeint = exp.DataType.build("HUGEINT")
    hex_digits = exp.DPipe(this=exp.Literal.string("0x"), expression=_group(value, _HEX_INTEGER_STRING, 2))
    hex_value = exp.TryCast(
        this=_signed(value, _HEX_INTEGER_STRING, exp.TryCast(this=hex_digits, to=hugeint)), to=found.to.copy()
    )
    return exp.Case(
        ifs=[
            exp.If(
                this=exp.Or(this=_not_text(value), expression=_matches(value, _INTEGER_STRING)), true=cast
            ),
            exp.If(this=_matches(value, _HEX_INTEGER_STRING), true=hex_value),
        ]
    )


def _fix_safe_cast_to_double(node: exp.Expression) -> exp.Expression:
    """``SAFE_CAST(s AS FLOAT64)``: DuckDB reads ``1_000`` (BigQuery: NULL) and not strtod's hex
    floats (BigQuery: ``0x1F`` is 31; here a mantissa of up to 32 hex digits)."""
    if (found := _try_cast_to(node, {exp.DataType.Type.DOUBLE})) is None:
        return node
    value, cast = found.this, _rewritten(found)
    pattern = _HEX_FLOAT_STRING
    digits = exp.DPipe(this=_group(value, pattern, 2), expression=_group(value, pattern, 3))
    mantissa = exp.TryCast(
        this=exp.DPipe(this=exp.Literal.string("0x"), expression=digits), to=exp.DataType.build("HUGEINT")
    )
    exponent = exp.Sub(
        this=exp.func(
            "COALESCE",
            exp.TryCast(this=_group(value, pattern, 4), to=exp.DataType.build("INT")),
            exp.Literal.number(0),
        ),
        expression=exp.Mul(
            this=exp.Literal.number(4), expression=exp.func("LENGTH", _group(value, pattern, 3))
        ),
    )
    hex_value = exp.Case(
        ifs=[
            exp.If(
                this=exp.And(
                    this=_matches(value, pattern),
                    expression=exp.GT(
                        this=exp.func("LENGTH", digits.copy()), expression=exp.Literal.number(0)
                    ),
                ),
                true=_signed(
                    value,
                    pattern,
                    exp.Mul(
                        this=exp.cast(mantissa, exp.DataType.build("DOUBLE")),
                        expression=exp.func("POW", exp.Literal.number(2), exponent),
                    ),
                ),
            )
        ]
    )
    has_underscore = exp.func("CONTAINS", _as_text(value), exp.Literal.string("_"))
    # DuckDB's cast first (shared by the WHENs): only what it refuses is matched against the hex
    # form, and only what it reads is searched for an underscore. 28 columns of 1M rows: 0.54 s,
    # where matching every value took 0.78 s, three byte searches before the cast 0.73 s, and
    # DuckDB's cast alone 0.38 s.
    return exp.Case(
        ifs=[
            exp.If(this=_not_text(value), true=cast),
            exp.If(this=exp.Is(this=cast.copy(), expression=exp.Null()), true=hex_value),
            exp.If(this=has_underscore, true=exp.Null()),
        ],
        default=cast.copy(),
    )


def _fix_safe_cast_to_numeric(node: exp.Expression) -> exp.Expression:
    """``SAFE_CAST(s AS NUMERIC)``: DuckDB reads ``1_000`` as 1000, BigQuery refuses it."""
    if (found := _try_cast_to(node, {exp.DataType.Type.DECIMAL})) is None:
        return node
    value, cast = found.this, _rewritten(found)
    has_underscore = exp.func("CONTAINS", _as_text(value), exp.Literal.string("_"))
    return exp.Case(
        ifs=[
            exp.If(
                this=exp.And(this=exp.Not(this=_not_text(value)), expression=has_underscore), true=exp.Null()
            )
        ],
        default=cast,
    )


def _fix_unix_seconds(node: exp.Expression) -> exp.Expression:
    """``UNIX_SECONDS`` floors (``10:00:00.9`` is second 10:00:00); sqlglot's
    ``CAST(EPOCH(t) AS BIGINT)`` rounds it up a second, so the row's windows moved a second."""
    if not isinstance(node, exp.UnixSeconds):
        return node
    epoch = exp.Anonymous(this="EPOCH", expressions=[node.this.copy()])
    return exp.cast(exp.Floor(this=epoch), exp.DataType.build("BIGINT"))


def _fix_trim(node: exp.Expression) -> exp.Expression:
    """``TRIM``, ``LTRIM`` and ``RTRIM`` of one argument remove Unicode white space on BigQuery,
    only spaces on DuckDB."""
    if not isinstance(node, exp.Trim) or node.expression is not None:
        return node
    fixed = node.copy()
    fixed.set("expression", exp.Literal.string(UNICODE_WHITE_SPACE))
    # DuckDB's TRIM with a character set took 1.3 s for three columns of 1M rows (0.16 s without):
    # a value whose trimmed ends are printable ASCII is returned as it is, the rest are trimmed.
    value, position = node.this, (node.text("position") or "").upper()
    ends = [] if position == "TRAILING" else [value.copy()]
    if position != "LEADING":
        ends.append(exp.func("RIGHT", value.copy(), exp.Literal.number(1)))
    printable = [
        exp.Between(this=exp.func("ASCII", end), low=exp.Literal.number(33), high=exp.Literal.number(126))
        for end in ends
    ]
    return exp.Case(ifs=[exp.If(this=exp.and_(*printable), true=value.copy())], default=fixed)


#: A timestamp string DuckDB reads exactly as BigQuery does: four-digit year (not 0000), two-digit
#: month, day, hour 00-23, minute, second 00-59, up to six fractional digits, and no zone or
#: ``Z``. Nearly every row takes this path: one match, then DuckDB's own cast.
_PLAIN_TIMESTAMP = (
    r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-[0-9]{2}-[0-9]{2}"
    r"([ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z?)?"
)
#: Every other form BigQuery's cast accepts (ZetaSQL's ParseStringToTimestampParts): one- or
#: two-digit month, day, hour, minute and second, a lower-case ``t`` or ``z``, a leap second
#: (``:60``), an offset of one or two hour digits with or without minutes (``+1``, ``+5:30``,
#: ``+0530``, after an optional `` UTC``), or a space and a zone name. Groups (DuckDB extracts
#: at most nine): 1-3 time, 4 fraction, 5 offset sign, 6 offset hours, 7 offset minutes,
#: 8 ``Z`` or a space and a zone name (`` UTC`` among them).
_BIGQUERY_DATE = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
_BIGQUERY_TIMESTAMP = (
    _BIGQUERY_DATE
    + r"(?:[Tt ]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(\.[0-9]{1,6})?"
    + r"(?:(?: UTC)?([+-])([0-9]{1,2})(?::?([0-9]{1,2}))?|([Zz]| [^ +-][^ ]*))?)?"
)


def _bigquery_timestamp_cast(value: str) -> str:
    """DuckDB SQL casting the VARCHAR ``value`` as BigQuery's ``SAFE_CAST(… AS TIMESTAMP)`` does:
    NULL for what BigQuery refuses (``2026/11/01``, no seconds, ``24:00:00``, seven fractional
    digits, ``epoch``, ``infinity``, year 0, spaces around), the same instant for the rest."""

    text = f"CAST({value} AS VARCHAR)"  # binds for any input type; only VARCHAR reaches it

    def group(i: int) -> str:
        return f"REGEXP_EXTRACT({text}, '^{_BIGQUERY_TIMESTAMP}$', {i})"

    def number(i: int) -> str:
        return f"COALESCE(TRY_CAST(NULLIF({group(i)}, '') AS INTEGER), 0)"

    date_part = f"REGEXP_EXTRACT({text}, '^{_BIGQUERY_DATE}')"
    time_part = (
        f"CASE WHEN {group(1)} = '' THEN '' ELSE ' ' || {group(1)} || ':' || {group(2)} || ':' "
        f"|| CASE WHEN {group(3)} = '60' THEN '59' ELSE {group(3)} END || {group(4)} END"
    )
    zone_part = (
        f"CASE WHEN {group(5)} <> '' THEN {group(5)} || LPAD({group(6)}, 2, '0') || ':' "
        f"|| LPAD(CASE WHEN {group(7)} = '' THEN '0' ELSE {group(7)} END, 2, '0') "
        f"WHEN {group(8)} IN ('Z', 'z') THEN '+00:00' ELSE {group(8)} END"
    )
    in_range = (
        f"LEFT({text}, 4) <> '0000' AND {number(1)} <= 23 AND {number(2)} <= 59 AND {number(3)} <= 60 "
        f"AND {number(6)} <= 14 AND {number(7)} <= 59"
    )
    leap = f"CASE WHEN {group(3)} = '60' THEN INTERVAL 1 SECOND ELSE INTERVAL 0 SECOND END"
    return (
        f"CASE WHEN TYPEOF({value}) <> 'VARCHAR' THEN TRY_CAST({value} AS TIMESTAMPTZ) "
        f"WHEN REGEXP_FULL_MATCH({text}, '{_PLAIN_TIMESTAMP}') THEN TRY_CAST({value} AS TIMESTAMPTZ) "
        f"WHEN REGEXP_FULL_MATCH({text}, '{_BIGQUERY_TIMESTAMP}') AND {in_range} "
        f"THEN TRY_CAST({date_part} || {time_part} || {zone_part} AS TIMESTAMPTZ) + {leap} END"
    )


def _fix_safe_cast_to_timestamp(node: exp.Expression) -> exp.Expression:
    is_timestamp_cast = isinstance(node, exp.TryCast) and node.to.this == exp.DataType.Type.TIMESTAMPTZ
    if not is_timestamp_cast or node.meta.get("bq_fixed"):
        return node
    fixed = sqlglot.parse_one(_bigquery_timestamp_cast(node.this.sql(dialect="duckdb")), read="duckdb")
    for cast in fixed.find_all(exp.TryCast):
        cast.meta["bq_fixed"] = True
    return _as_expression(fixed)


def _as_expression(tree: object) -> exp.Expression:
    """``tree`` as an expression (sqlglot types a parsed tree more loosely)."""
    assert isinstance(tree, exp.Expression)
    return tree


def _fix_countif(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.CountIf):
        return node
    counted = exp.Case(ifs=[exp.If(this=node.this.copy(), true=exp.Literal.number(1))])
    return exp.Count(this=counted)


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


#: Name of the DuckDB UDF standing for ``DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN(...), ...)``.
KEYED_UDF = "deterministic_encrypt"


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
    if not (isinstance(node, exp.Anonymous) and node.name.upper() == "DETERMINISTIC_ENCRYPT"):
        return node
    args = node.expressions
    if len(args) != 3 or not _is_call(args[0], "KEYS", "KEYSET_CHAIN"):
        raise ValueError("DETERMINISTIC_ENCRYPT is supported with KEYS.KEYSET_CHAIN(uri, keyset) only")
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
    tree = tree.transform(_fix_countif)
    tree = tree.transform(_fix_unix_seconds)
    tree = tree.transform(_fix_trim)
    duck = sqlglot.parse_one(tree.sql(dialect="duckdb"), read="duckdb")
    # TRY_CAST only exists after the dialect switch, so fix it on the DuckDB tree.
    duck = duck.transform(_fix_safe_cast_to_int)
    duck = duck.transform(_fix_safe_cast_to_double)
    duck = duck.transform(_fix_safe_cast_to_numeric)
    duck = duck.transform(_fix_safe_cast_to_timestamp)
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


def bound_parameters(duckdb_sql: str, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``parameters`` a transpiled statement uses: what to bind when running it."""
    used = referenced_parameters(duckdb_sql)
    return {name: value for name, value in (parameters or {}).items() if name in used}
