"""The local stand-in for a BigQuery load job: landed CSV (from the GCS emulator) → DuckDB.

Same contract as :func:`fraud_mlops.warehouse.bigquery_jobs.load_job_configuration`: every
landing column as a string, header skipped, the file's load table replaced, a gzip object read
as it is (DuckDB decompresses it), and exactly the unparseable lines validation found skipped
(BigQuery skips them through ``maxBadRecords``; here they are left out of the copy DuckDB reads,
because DuckDB, unlike a load with ``allowQuotedNewlines=false``, would let a broken quote run
on into the next lines).
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any

from fraud_mlops.landing_schema import (
    LANDING_COLUMNS,
    LandedFile,
    LoadMismatchError,
    LoadRefused,
    redact_card_numbers,
)
from fraud_mlops.settings import Settings


class CsvLoadError(LoadRefused):
    """DuckDB refused a landed file's lines; the message has no card number in clear."""

    def __init__(self, detail: str) -> None:
        super().__init__("load_refused", detail)


#: DuckDB's default ``max_line_size`` in bytes; validation, like BigQuery, takes lines to 100 MiB.
DUCKDB_MAX_LINE = 2_000_000


def load_csv_into_table(
    conn: Any, path: Path, schema: str, table: str, compression: str | None = None
) -> int:
    """Replace ``schema.table`` with the CSV at ``path``: every landing column as a string.

    DuckDB's strict reader takes one line ending per file (the first line's), lines under 2 MB
    and UTF-8 only; validation takes any mix of "\\n", "\\r\\n" and "\\r" (Python's universal
    newlines), lines to 100 MiB (BigQuery's limit for a CSV row) and data lines holding bytes that
    are not UTF-8 (read as U+FFFD, as BigQuery's load converts them). A file DuckDB refuses is
    read again from a copy with "\\n" endings, U+FFFD for such bytes and room for its longest
    line (only such files pay for the copy), and so is a gzip stream DuckDB cannot decompress
    (:class:`GzipHeaderRefused`). Validation leaves out every line it cannot parse, so
    DuckDB refusing that copy means the two parsers disagree: the error says where, and its
    quoted lines keep only cards' last four digits (raised ``from None``: a chained original
    would print them whole).
    """
    try:
        _read_csv_into_table(conn, path, schema, table, compression, DUCKDB_MAX_LINE)
    except (CsvLoadError, GzipHeaderRefused):
        with tempfile.TemporaryDirectory() as tmp:
            copy, longest = _with_newline_endings(path, compression, Path(tmp) / "lines.csv")
            _read_csv_into_table(conn, copy, schema, table, None, max(DUCKDB_MAX_LINE, longest + 1))
    (rows,) = conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{table}"').fetchone()
    return int(rows)


class GzipHeaderRefused(Exception):
    """DuckDB's gzip reader refused a stream that Python's gzip module (validation's) reads: a
    header with the FTEXT, FHCRC or FCOMMENT flag, or zero padding after the last member, all
    allowed by RFC 1952 ("Unsupported GZIP archive", an I/O error). No verdict on the file's
    lines: it is read again from a copy Python decompressed. Before, the load failed on every
    retry and every run, and held back every other file's append."""


def _read_csv_into_table(
    conn: Any, path: Path, schema: str, table: str, compression: str | None, max_line: int
) -> None:
    import duckdb

    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in LANDING_COLUMNS)
    try:
        conn.execute(
            f'CREATE OR REPLACE TABLE "{schema}"."{table}" AS '
            f"SELECT * FROM read_csv(?, header = true, columns = {{{columns}}}, "
            "quote = '\"', escape = '\"', strict_mode = true, "
            f"max_line_size = {int(max_line)}, "
            f"compression = '{'gzip' if compression == 'gzip' else 'none'}')",
            [str(path)],
        )
    except duckdb.InvalidInputException as exc:  # the CSV reader's refusal of the file's content
        raise CsvLoadError(_refusal_detail(str(exc), path)) from None
    except duckdb.IOException as exc:
        if compression == "gzip":
            raise GzipHeaderRefused(str(exc)) from None
        raise RuntimeError(f"{type(exc).__name__}: {redact_card_numbers(str(exc))}") from None
    except duckdb.Error as exc:  # anything else (I/O, memory) is no verdict on the file: retried
        raise RuntimeError(f"{type(exc).__name__}: {redact_card_numbers(str(exc))}") from None


def _refusal_detail(message: str, path: Path) -> str:
    """DuckDB's refusal as a person reading a quarantine reason needs it: what failed and where
    (its "CSV Error on Line: N" and the quoted line, cards cut to their last four digits),
    without its generic "Possible fixes" list, the statement, or the worker's temporary path."""
    for cut in ("\nThe search space used was:", "\nPossible fixes:", "\n\nLINE 1:"):
        message = message.split(cut, 1)[0]
    message = message.replace(f' "{path}"', "").replace(str(path), "the file").strip()
    message = " ".join(message.split())  # one line: it goes into a log line and the run summary
    message = redact_card_numbers(message)  # before the cut: no card's leading digits survive it
    if len(message) > 600:
        message = message[:600] + "…"
    return (
        f"DuckDB's strict CSV reader refused the file that validation read: {message} (the two "
        'readers disagree; one known case: a field with a quote after its first character, `, "The" Shop`)'
    )


def _with_newline_endings(source: Path, compression: str | None, target: Path) -> tuple[Path, int]:
    """Copy ``source`` (plain or gzip) to plain ``target``, every line ending "\\n" (Python's
    universal newlines, as validation splits lines) and bytes that are not UTF-8 as U+FFFD; returns it and its longest line's length
    in bytes. Validation left no line with a quoted line break: such lines are bad ones."""
    longest = 0
    with (
        _open_text(source, compression, newline=None) as lines,
        target.open("w", encoding="utf-8", newline="\n") as out,
    ):
        for line in lines:
            out.write(line)
            longest = max(longest, len(line.encode()))
    return target, longest


def _open_text(path: Path, compression: str | None, newline: str | None = "") -> IO[str]:
    """The file's text; bytes that are not UTF-8 read as U+FFFD, as validation counted them and
    as a BigQuery load converts them (DuckDB refuses them)."""
    if compression == "gzip":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=newline)
    return path.open(encoding="utf-8", errors="replace", newline=newline)


def without_lines(source: Path, compression: str | None, skip: Collection[int], target: Path) -> Path:
    """Copy ``source`` (plain or gzip) to plain ``target`` without the 1-based lines in ``skip``."""
    with _open_text(source, compression) as lines, target.open("w", encoding="utf-8", newline="") as out:
        for line_no, line in enumerate(lines, start=1):
            if line_no not in skip:
                out.write(line)
    return target


def load_into_warehouse(file: dict[str, Any], settings: Settings) -> int:
    from fraud_mlops.storage import gcs_hook, require_generation
    from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook

    landed = LandedFile.from_xcom(file)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / landed.base_name
        # A streamed download to disk (not memory), of the bytes as stored (gzip stays gzip).
        hook = gcs_hook(settings)
        blob = hook.get_conn().bucket(landed.bucket).blob(landed.name)
        blob.download_to_filename(str(path), raw_download=True)
        # read by name, as BigQuery's load job reads it: still the generation validation read?
        require_generation(hook, landed.uri, landed.generation)
        conn = BigQueryDialectDuckDBHook(duckdb_conn_id=settings.warehouse_conn_id).get_conn()
        try:
            compression = landed.compression
            if landed.reject_table:
                skip = {
                    int(n)
                    for (n,) in conn.execute(
                        f'SELECT line_number FROM "{settings.dataset}"."{landed.reject_table}"'
                    ).fetchall()
                }
                path = without_lines(path, compression, skip, Path(tmp) / "good_lines.csv")
                compression = None
            try:
                rows = load_csv_into_table(conn, path, settings.raw_dataset, landed.load_table, compression)
                if rows != landed.rows:  # as a BigQuery load's outputRows is checked
                    raise LoadMismatchError(
                        f"the load read {rows} rows, validation counted {landed.rows} good rows "
                        f"and {landed.bad_lines} bad lines"
                    )
            except LoadRefused as refused:
                conn.execute(f'DROP TABLE IF EXISTS "{settings.raw_dataset}"."{landed.load_table}"')
                # The reject table stays (its append is skipped): a try that dies before the
                # quarantine is retried, and the retry reads it again; dropped here, every retry
                # failed on it. The lease's teardown drops it (drop_leftover_load_tables).
                if landed.reject_table and isinstance(refused, CsvLoadError):
                    raise LoadRefused(
                        refused.reason,
                        f"{refused.detail}; DuckDB's line numbers count the file without its "
                        f"{landed.bad_lines} bad line(s)",
                    ) from None
                raise
            return rows
        finally:
            conn.close()
