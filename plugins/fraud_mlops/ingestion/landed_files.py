"""Landed files: list, validate (streaming), quarantine and archive them in GCS.

Target-agnostic: everything goes through the Google provider's ``GCSHook``, which talks to
Cloud Storage on gcp and to the GCS emulator locally. Each file is read once as a stream
(plain or gzip, as BigQuery loads both), so memory does not grow with the file. A file no load
could use (empty, binary, a header that is not UTF-8, broken gzip, wrong header, too many bad lines) is moved to
the quarantine bucket with a ``.reason.json`` beside it, so nothing is lost and the run says
why. A line that cannot be parsed (wrong field count, broken quoting) holds back no good row:
it becomes a rejected line (file, line number, reason, at most the card's last four digits) and
the rest of the file loads. Row-level rules are not decided here: they are the staging SQL's.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from fraud_mlops.ingestion.line_blocks import field_counts, has_lone_carriage_return
from fraud_mlops.landing_schema import LANDING_COLUMNS, LandedFile, redact_card_numbers
from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from fraud_mlops.warehouse.base import Warehouse

log = logging.getLogger(__name__)


#: Read size of the streaming validation: memory stays near three times this (the client holds
#: a chunk while fetching and handing it on), whatever the file's size. Each chunk is one
#: ranged GET: with 1 MiB chunks a 107 MiB file took 11.5 s to validate through the GCS
#: emulator and 3.0 s with 8 MiB (0.9 s parsing it in memory); on Cloud Storage every request
#: adds its latency too. The client library's own default is 40 MiB.
READ_CHUNK_BYTES = 8 * 1024 * 1024
#: Buffer between the stream and the line reader.
LINE_BUFFER_BYTES = 64 * 1024
#: Lines are counted a block at a time (line_blocks.py), in a few numpy arrays of about this
#: size: 256 KiB blocks peaked at 6 MiB of allocations, 1 MiB blocks at 24 MiB and were no faster.
SCAN_BLOCK_BYTES = 256 * 1024
#: A first line longer than this is no header: read as text, it quarantines the file (and a
#: first MiB without any line end quarantines it at once).
HEADER_MAX_BYTES = 1024 * 1024
#: Validation of a big file logs how far it got at most this often (and a text scan looks every
#: PROGRESS_LINES lines).
PROGRESS_SECONDS = 10.0
PROGRESS_LINES = 100_000
#: A data line longer than this quarantines the file rather than being read on into memory.
MAX_LINE_BYTES = 100 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
#: BigQuery's limit on a gzip file a load job reads ("The maximum size for a gzip file is 4 GB",
#: cloud.google.com/bigquery/docs/loading-data-cloud-storage-csv), taken in decimal bytes: a
#: file the load could refuse is quarantined on both targets rather than failing the load.
GZIP_MAX_BYTES = 4_000_000_000
EXPECTED_FIELDS = len(LANDING_COLUMNS)


@dataclass(frozen=True)
class BadLine:
    """A physical line no CSV load can parse: it goes to ``rejected_lines``, never a card number.

    ``line`` counts physical lines of the (decompressed) file from 1, the header being line 1:
    with ``allowQuotedNewlines=false`` (the load settings of both targets) a line is a record.
    """

    line: int
    reason: str  # wrong_field_count | broken_quoting
    detail: str
    transaction_id: str | None = None
    card_last4: str | None = None


@dataclass(frozen=True)
class FileCheck:
    """What streaming the file once found: usable or not (with a reason), good rows, bad lines."""

    ok: bool
    rows: int
    reason: str | None = None
    detail: str | None = None
    bad_lines: tuple[BadLine, ...] = ()
    md5: str = ""
    size: int = 0
    compression: str | None = None  # "gzip" or None
    #: data lines holding bytes that are not UTF-8: they load with U+FFFD in their place, as
    #: BigQuery's load converts them ("converts the character to the standard Unicode
    #: replacement character"); the file is not quarantined for them
    not_utf8_lines: int = 0
    first_not_utf8_line: int | None = None


@dataclass(frozen=True)
class BadLineLimits:
    """When bad lines quarantine the whole file (BigQuery's ``max_bad_records``, as a share too).

    ``max_share`` bounds the share of bad lines among data lines; ``max_count`` bounds their
    number, which also bounds the memory the validation spends remembering them.
    """

    max_share: float = 0.01
    max_count: int = 10_000

    @classmethod
    def of(cls, settings: Settings) -> BadLineLimits:
        return cls(max_share=settings.max_bad_line_share, max_count=settings.max_bad_lines)


class _HashingReader(io.RawIOBase):
    """Passes bytes through while computing their MD5 (the file's identity) and size."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.md5 = hashlib.md5()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.md5.update(data)
        self.size += n
        return n

    def drain(self) -> None:
        """Read what is left, so the hash covers the whole object even after an early stop."""
        while data := self.raw.read(SCAN_BLOCK_BYTES):  # the stream buffers its own chunks
            self.md5.update(data)
            self.size += len(data)


# A field may be as long as its line (BigQuery loads CSV rows of up to 100 MB, and DuckDB's load
# reads them): the csv module's default limit (131,072 characters) rejected a good line with a
# longer field as broken quoting. The limit is the module's, for the whole process; only raised.
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))


def _split_line(line: str) -> list[str]:
    """One physical line as CSV fields (RFC 4180 quoting); raises ``csv.Error`` on broken quoting."""
    if '"' not in line:
        return line.split(",")  # the common case, ~10x faster than the csv module
    return next(csv.reader([line], strict=True))


def _field_count(line: str) -> int:
    """The number of CSV fields of one physical line, as :func:`_split_line` would split it,
    without building the fields: validation only counts them, and building ~36 strings a line
    cost ~4 µs of a line's ~11 (bench/bench_validation.py: 3.32 → 2.03 s for 300k lines).

    A line whose quotes all delimit whole fields (``"..."`` with doubled quotes inside) is
    counted by its commas outside the quotes; any other line goes to the csv module, which
    decides it (and raises its error on broken quoting).
    """
    if '"' not in line:
        return line.count(",") + 1
    parts = line.split('"')  # even indexes lie outside quotes, odd ones inside
    if len(parts) % 2:
        outside = parts[0::2]
        # each quoted content becomes empty; a doubled quote leaves an empty piece between two
        # quote pairs, so such a field becomes a run of 4, 6, ... quotes
        skeleton = "," + '""'.join(outside) + ","
        runs = len(parts) // 2 - outside[1:-1].count("")
        # every run of quotes opens right after a comma and closes right before one
        if skeleton.count(',"') == runs and skeleton.count('",') == runs:
            return skeleton.count(",") - 1
    return len(_split_line(line))


def _bad_line(line_no: int, line: str, reason: str, detail: str) -> BadLine:
    """Keep what helps a person find the row, never more than the card's last four digits."""
    fields = line.split(",")
    # the first field of a line that is not a landing row may be anything, a card number too
    # redacted before the cut: a cut through a card number leaves digits the redaction misses
    transaction_id = redact_card_numbers(fields[0].strip().strip('"'))[:64] or None
    digits = "".join(ch for ch in fields[2] if ch.isdigit()) if len(fields) > 2 else ""
    return BadLine(line_no, reason, detail, transaction_id, digits[-4:] or None)


@dataclass(frozen=True)
class ScanProgress:
    """How far a scan got: bytes of the object as stored (compressed for gzip, so comparable
    with its size), lines read, good rows and bad lines so far."""

    bytes_read: int
    lines: int
    rows: int
    bad_lines: int


@dataclass
class _Tally:
    """What the lines read so far came to."""

    limits: BadLineLimits
    rows: int = 0
    blank: int = 0
    bad_count: int = 0
    line_no: int = 0  # the last line read (the header is line 1)
    bad: list[BadLine] = field(default_factory=list)
    not_utf8: int = 0
    first_not_utf8: int | None = None
    #: called after every block (and every PROGRESS_LINES lines read as text): long files report
    progress: Callable[[_Tally], None] | None = None

    def line(self, line_no: int, line: str) -> None:
        """One physical line, without its terminator, counted line by line."""
        self.line_no = line_no
        if not line:
            self.blank += 1  # a blank line is harmless: every CSV load skips it
            return
        try:
            n = _field_count(line)
        except csv.Error as err:
            self.reject(line_no, line, "broken_quoting", str(err))
            return
        if n == EXPECTED_FIELDS:
            self.rows += 1
        else:
            self.reject(line_no, line, "wrong_field_count", f"{n} fields, expected {EXPECTED_FIELDS}")

    def not_utf8_line(self, line_no: int) -> None:
        self.not_utf8 += 1
        if self.first_not_utf8 is None:
            self.first_not_utf8 = line_no

    def reject(self, line_no: int, line: str, reason: str, detail: str) -> None:
        self.bad_count += 1
        if self.bad_count <= self.limits.max_count:
            self.bad.append(_bad_line(line_no, line, reason, detail))

    def block(self, block: bytes) -> None:
        """Whole lines ending in "\n" (no lone "\r"): counted at once, and only the lines that are
        not plain good rows one by one (line_blocks.py). Bytes that are not UTF-8 cannot be a
        comma, a quote or a line end (all ASCII): they change no line's fields."""
        counts = field_counts(block)
        first = self.line_no + 1
        good = ~counts.blank & ~counts.undecided & (counts.fields == EXPECTED_FIELDS)
        self.rows += int(good.sum())
        self.blank += int(counts.blank.sum())
        for i in np.flatnonzero(~counts.blank & ~good):
            line = block[counts.starts[i] : counts.ends[i]].decode("utf-8", errors="replace")
            self.line(first + int(i), line)
        self.line_no = first + len(counts.starts) - 1
        if self.progress is not None:
            self.progress(self)


class Prefixed(io.RawIOBase):
    """``prefix``, then the rest of ``stream``: bytes already read, handed back to a text reader."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self.prefix, self.stream = prefix, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n], self.prefix = self.prefix[:n], self.prefix[n:]
            return n
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _text(prefix: bytes, stream: BinaryIO) -> io.TextIOWrapper:
    """Bytes that are not UTF-8 read as U+FFFD (the lines holding one are counted)."""
    return io.TextIOWrapper(
        io.BufferedReader(Prefixed(prefix, stream)), encoding="utf-8", errors="replace", newline=""
    )


def _header_bytes(body: BinaryIO) -> tuple[bytes, bytes, bool]:
    """The first line (with its "\\n"), the bytes read after it, and whether the line is plain:
    not blank, ended by "\\n" or "\\r\\n" within its first MiB. Other first lines go to the
    line-by-line reader, as every line did before blocks; raises LineTooLong for a first MiB
    with no line end at all."""
    data = b""
    while b"\n" not in data and len(data) < HEADER_MAX_BYTES:
        chunk = body.read(SCAN_BLOCK_BYTES)
        if not chunk:
            break
        data += chunk
    end = data.find(b"\n") + 1
    if end == 0 and len(data) >= HEADER_MAX_BYTES and b"\r" not in data:
        raise LineTooLong(1, HEADER_MAX_BYTES)
    header = data[:end] if end else data
    plain = (
        0 < end <= HEADER_MAX_BYTES
        and bool(header.removeprefix(b"\xef\xbb\xbf").strip())  # a mark alone is a blank line
        and b"\r" not in header.removesuffix(b"\r\n")
    )
    return header, data[len(header) :], plain


def _check_header(header_line: str, rest: Callable[[], str]) -> tuple[str, str] | None:
    """Why the first line quarantines the file, if it does."""
    if "\x00" in header_line:
        return "binary_file", "NUL bytes in the first line: not a CSV text file"
    # A UTF-8 byte order mark (Excel's "CSV UTF-8" writes one) sits in the header line, which
    # both loads skip (skipLeadingRows=1; DuckDB's header=true): the rows load the same. A file
    # of a mark alone is empty, not one with a wrong header.
    header_line = header_line.removeprefix("\ufeff")
    if not header_line.strip():
        if not rest().strip():
            return "empty_file", "the file has no content"
        return "wrong_header", "the first line is blank; expected the header"
    try:
        header = _split_line(header_line.rstrip("\r\n"))
    except csv.Error as err:
        return "unparseable", f"header: {err}"
    expected = list(LANDING_COLUMNS)
    if header != expected:
        missing = [c for c in expected if c not in header]
        unexpected = [c for c in header if c not in expected]
        if len(missing) == len(expected):
            # a file without its header: the first line is a row, whose values are no one's to read
            return "wrong_header", (
                f"no landing column in the first line ({len(header)} fields): the file has no header "
                f"line, or is not a landing file; expected the {len(expected)} columns of "
                "fraud_mlops.landing_schema.LANDING_COLUMNS"
            )
        if missing or unexpected:
            return "wrong_header", redact_card_numbers(
                f"missing columns {missing}, unexpected columns {unexpected}"
            )
        return "wrong_header", f"columns in the wrong order: {header}"
    return None


def _scan_text(text: io.TextIOWrapper, tally: _Tally) -> None:
    """The lines left, one by one (``newline=""``: "\\n", "\\r\\n" and a lone "\\r" end a line),
    each read at most MAX_LINE_BYTES characters at a time."""
    line_no = tally.line_no
    while raw_line := text.readline(MAX_LINE_BYTES + 1):
        line_no += 1
        if len(raw_line) > MAX_LINE_BYTES:
            raise LineTooLong(line_no)
        if "\ufffd" in raw_line:
            tally.not_utf8_line(line_no)
        tally.line(line_no, raw_line.rstrip("\r\n"))
        if tally.progress is not None and line_no % PROGRESS_LINES == 0:
            tally.progress(tally)


class LineTooLong(Exception):
    """A line runs on past what any CSV load takes as a row (or a first line past what a header
    could be): the file is quarantined, not read into memory to the line's end."""

    def __init__(self, line_no: int, limit: int | None = None) -> None:
        limit = MAX_LINE_BYTES if limit is None else limit
        super().__init__(
            f"line {line_no} runs past {limit // 2**20} MiB without a line end"
            + (" (BigQuery loads CSV rows of at most 100 MB)" if line_no > 1 else ": no CSV header")
        )


def _scan_body(body: BinaryIO, carry: bytes, tally: _Tally) -> None:
    """The data lines, a block of whole lines at a time; from a block with a lone "\\r" on, line by
    line."""
    pieces, size = [carry], len(carry)  # the line being read, until a block ends one
    while True:
        chunk = body.read(SCAN_BLOCK_BYTES)
        if chunk and b"\n" not in chunk:  # a line longer than a block: read on
            pieces.append(chunk)
            size += len(chunk)
            if b"\r" in chunk or b"\r" in pieces[0]:
                # lines ended by a lone "\r" (after a header ended by "\n"): reading on to a
                # "\n" took the whole rest of the file for one line, into memory, and
                # quarantined it past 100 MiB as line_too_long
                _scan_text(_text(b"".join(pieces), body), tally)
                return
            if size > MAX_LINE_BYTES:
                raise LineTooLong(tally.line_no + 1)
            continue
        data = b"".join([*pieces, chunk or (b"\n" if size else b"")])
        if not data:
            return
        cut = data.rfind(b"\n") + 1
        block, carry = data[:cut], data[cut:]
        pieces, size = [carry], len(carry)
        if has_lone_carriage_return(block):
            _scan_text(_text(data if chunk else data[:-1], body), tally)
            return
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:  # which lines hold such bytes (rare: each line decoded again)
            for i, line in enumerate(block.split(b"\n")[:-1]):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    tally.not_utf8_line(tally.line_no + 1 + i)
        tally.block(block)
        if not chunk:
            return


def scan_landing_stream(
    stream: BinaryIO,
    limits: BadLineLimits | None = None,
    on_progress: Callable[[ScanProgress], None] | None = None,
    stored_size: int | None = None,
) -> FileCheck:
    """Validate a landing CSV (plain or gzip) read as a stream: memory does not grow with size.

    File-level problems quarantine the file (empty, binary, a header not UTF-8, broken gzip, wrong
    header, no data rows, too many bad lines); lines that cannot be parsed are reported as
    :class:`BadLine` and the file's other rows load. Row-level rules live in the staging SQL.
    ``on_progress`` hears how far the scan got, often (after every block of lines).
    ``stored_size`` (the object's size, when known) lets a gzip file BigQuery would refuse to
    load be quarantined before it is read.
    """
    limits = limits or BadLineLimits()
    hashing = _HashingReader(stream)
    # The stream (a GCS BlobReader) buffers a whole chunk already: a second chunk-sized buffer
    # here would double the memory held for nothing.
    buffered = io.BufferedReader(hashing, buffer_size=LINE_BUFFER_BYTES)
    compression = "gzip" if buffered.peek(2)[:2] == GZIP_MAGIC else None
    body: BinaryIO = gzip.GzipFile(fileobj=buffered, mode="rb") if compression else buffered  # type: ignore[assignment]

    def result(
        ok: bool, rows: int, reason: str | None = None, detail: str | None = None, bad: Sequence[BadLine] = ()
    ) -> FileCheck:
        hashing.drain()
        return FileCheck(
            ok, rows, reason, detail, tuple(bad), hashing.md5.hexdigest(), hashing.size, compression,
            tally.not_utf8, tally.first_not_utf8,
        )  # fmt: skip

    def progress(tally: _Tally) -> None:
        if on_progress is not None:
            on_progress(ScanProgress(hashing.size, tally.line_no, tally.rows, tally.bad_count))

    tally = _Tally(limits, progress=progress if on_progress else None)
    if compression and stored_size is not None and stored_size > GZIP_MAX_BYTES:
        return result(
            False, 0, "gzip_too_large",
            f"{stored_size:,} bytes of gzip: BigQuery loads gzip files of at most 4 GB "
            f"({GZIP_MAX_BYTES:,} bytes); land it uncompressed or split into smaller files",
        )  # fmt: skip
    try:
        header_bytes, carry, plain = _header_bytes(body)
        if plain:
            header_line = header_bytes.decode("utf-8")
            tally.line_no = 1
            problem = _check_header(header_line, lambda: "")  # not blank: the rest is not read
        else:
            text = _text(header_bytes + carry, body)
            header_line = text.readline(HEADER_MAX_BYTES + 1)
            if len(header_line) > HEADER_MAX_BYTES:
                raise LineTooLong(1, HEADER_MAX_BYTES)
            tally.line_no = 1
            problem = (
                ("not_utf8", "line 1: the header holds bytes that are not UTF-8")
                if "\ufffd" in header_line
                else _check_header(header_line, lambda: text.read(READ_CHUNK_BYTES))
            )
        if problem:
            return result(False, 0, *problem)
        if plain:
            _scan_body(body, carry, tally)
        else:
            _scan_text(text, tally)
    except UnicodeDecodeError as err:  # the header's (in data lines such bytes read as U+FFFD)
        return result(False, tally.rows, "not_utf8", f"line 1: {err.reason}")
    except LineTooLong as err:
        return result(False, tally.rows, "line_too_long", str(err))
    # gzip.BadGzipFile is an OSError; a damaged compressed body raises zlib.error
    except (OSError, EOFError, zlib.error) as err:
        return result(False, tally.rows, "bad_compression", _broken_gzip(err, tally.line_no))
    rows, bad, bad_count = tally.rows, tally.bad, tally.bad_count
    lines = rows + bad_count
    if rows == 0 and bad_count == 0:
        return result(False, 0, "no_data_rows", "the file has a header but no rows")
    # a share exactly at the limit passes: bad_count / lines rounds as the setting does, where
    # max_share * lines does not (0.29 * 100 == 28.999999999999996)
    if bad_count > limits.max_count or bad_count / lines > limits.max_share:
        first_bad = bad[0]
        return result(
            False, rows, "too_many_bad_lines",
            f"{bad_count:,} of {lines:,} data lines cannot be parsed ({bad_count / lines:.2%}; limits: "
            f"{limits.max_share:.2%} and {limits.max_count:,} lines); first: line {first_bad.line}: {first_bad.detail}",
            bad,
        )  # fmt: skip
    return result(True, rows, bad=bad)


def _broken_gzip(err: BaseException, lines_read: int) -> str:
    """The reason of a gzip stream that breaks: where the count of lines had got to, not where
    the break is. The stream is decompressed in blocks ahead of the lines, so a small file with
    bytes after its last gzip member breaks before its first line is counted."""
    read = f"{lines_read:,} line(s) had been read" if lines_read else "no line had been read yet"
    return (
        f"gzip stream broken: {err} ({read}; the stream is decompressed ahead of the lines, so the "
        "break can lie further on, e.g. bytes after the end of the compressed data)"
    )


def check_landing_csv(data: bytes, limits: BadLineLimits | None = None) -> FileCheck:
    """:func:`scan_landing_stream` over bytes in memory (tests, small files)."""
    return scan_landing_stream(io.BytesIO(data), limits)


#: Files one run takes on. The load and append map a task over each good file, and Airflow refuses
#: to map more than ``[core] max_map_length`` (1,024) at once: a backlog past it failed the
#: validation task on every run, after it had quarantined files, and nothing was ever archived.
#: The rest stay landed for the next run.
MAX_FILES_PER_RUN = 500


def list_landed(hook: GCSHook, settings: Settings) -> list[str]:
    """The files under the landing prefix, sorted; zero-byte "folder" objects there are deleted.

    The console's "Create folder" makes one (``incoming/``). It holds no file, but the sensor
    DAG's prefix check counts it: every ``@continuous`` run would find it, ingest nothing and
    start the next run at once, for good.
    """
    names = []
    for blob in hook.get_conn().bucket(settings.landing_bucket).list_blobs(prefix=settings.landing_prefix):
        if not blob.name.endswith("/"):
            names.append(blob.name)
        elif not blob.size:
            blob.delete(if_generation_match=blob.generation)
            log.info("deleted the folder placeholder gs://%s/%s (no file; it kept the sensor firing)",
                     settings.landing_bucket, blob.name)  # fmt: skip
    return sorted(names)


#: Where quarantined files lie in the quarantine bucket (:func:`quarantine` writes there and
#: :func:`quarantined_earlier` reads there: one name for both).
QUARANTINE_PREFIX = "quarantine/"


def quarantine(
    hook: GCSHook,
    settings: Settings,
    name: str,
    generation: str,
    *,
    reason: str,
    detail: str | None,
    md5: str | None,
    run_id: str,
) -> str | None:
    """Move generation ``generation`` of ``name`` (the one checked) to the quarantine bucket with
    a reason file; returns the new URI, or ``None`` when a newer generation has replaced it
    (that one stays landed for the next run: it was not the file checked).

    The object is copied inside Cloud Storage (no download): a multi-GB file costs no memory.
    The reason is written first: a task that fails between the two (and is retried) leaves no
    quarantined file without its reason.
    """
    stamp = datetime.now(UTC)
    target = moved_name(QUARANTINE_PREFIX, stamp, generation, name)
    why = {
        "reason": reason,
        "detail": detail,
        "source": f"gs://{settings.landing_bucket}/{name}",
        "md5": md5,
        "quarantined_at": stamp.isoformat(),
        "run_id": run_id,
    }
    hook.upload(
        settings.quarantine_bucket,
        target + ".reason.json",
        data=json.dumps(why, indent=2),
        mime_type="application/json",
    )
    if not move_generation(
        hook, settings.landing_bucket, name, generation, settings.quarantine_bucket, target
    ):
        hook.delete(settings.quarantine_bucket, target + ".reason.json")
        return None
    return f"gs://{settings.quarantine_bucket}/{target}"


def moved_name(prefix: str, day: datetime | date, generation: str, name: str) -> str:
    """Where a landed object goes, in the quarantine bucket or the archive:
    ``<prefix><day>/<generation>/<base name>``. The generation keeps apart two files of one base
    name moved on one day (the same name landed again, or two landing folders): a copy to a
    shared name overwrote the first, and a quarantined file, kept for a person to read, was lost."""
    return f"{prefix}{day:%Y-%m-%d}/{generation}/{name.rsplit('/', 1)[-1]}"


def _days_since(since: datetime) -> Iterator[date]:
    """The UTC days from ``since`` (a run's start) to today, oldest first: the folders a move by
    that run may have gone to (a moved file's folder is the day of the move, so a retry after
    midnight UTC looks in the day before too)."""
    day, today = since.astimezone(UTC).date(), datetime.now(UTC).date()
    while day <= today:
        yield day
        day += timedelta(days=1)


def _moved_names_since(prefix: str, since: datetime, landed: LandedFile) -> Iterator[str]:
    """Where an earlier try of this run may have moved ``landed``: its generation's folder under
    ``prefix`` on each day from ``since`` (the run's start) to today, oldest first."""
    for day in _days_since(since):
        yield moved_name(prefix, day, landed.generation, landed.name)


def _still_landed(bucket: Any, name: str, generation: str) -> Any | None:
    """The object ``name`` of ``bucket`` (a ``google.cloud.storage.Bucket``) if it is still
    generation ``generation``; ``None`` when it was moved, deleted or overwritten since."""
    blob = bucket.get_blob(name)
    return blob if blob is not None and str(blob.generation) == generation else None


def quarantined_earlier(
    hook: GCSHook, settings: Settings, landed: LandedFile, run_id: str, since: datetime
) -> dict[str, Any] | None:
    """The quarantine entry run ``run_id`` made for ``landed``, if the file validation read is no
    longer landed and lies in quarantine with that run's reason; else ``None``.

    What a retried load task finds when an earlier try moved the file it refused and died before
    it succeeded (a worker lost). Without it the retry found no file, failed, and failed the run.
    The quarantine's folder is the day of the move, so the days from ``since`` (the run's start)
    to today are looked at, in the folder of the file's generation (:func:`moved_name`: no other
    file lies there); the reason must name this run, the file and its content.
    """
    client = hook.get_conn()
    if _still_landed(client.bucket(landed.bucket), landed.name, landed.generation) is not None:
        return None  # no earlier try moved it
    quarantined = client.bucket(settings.quarantine_bucket)
    for target in _moved_names_since(QUARANTINE_PREFIX, since, landed):
        reason = quarantined.get_blob(target + ".reason.json")  # None: not that day (no error logged)
        if reason is None:
            continue
        why = json.loads(reason.download_as_bytes())
        mine = (why.get("run_id"), why.get("md5"), why.get("source")) == (run_id, landed.md5, landed.uri)
        if mine and quarantined.get_blob(target) is not None:
            return {
                "file": landed.name,
                "reason": why["reason"],
                "detail": why["detail"],
                "moved_to": f"gs://{settings.quarantine_bucket}/{target}",
            }
    return None


def quarantined_by_run(
    hook: GCSHook, settings: Settings, run_id: str, since: datetime
) -> list[dict[str, Any]]:
    """Every file run ``run_id`` moved to quarantine (its validation's and its refused loads'),
    as the run summary lists them, from the reason files in the days' folders from ``since``
    (the run's start) to today.

    What a retried validation reports besides its own: an earlier try that quarantined files and
    then died took its XCom with it, and the retry no longer sees those files landed. One
    listing per day and one read per reason file of that day (a retry only).
    """
    client = hook.get_conn()
    bucket = client.bucket(settings.quarantine_bucket)
    source_prefix = f"gs://{settings.landing_bucket}/"
    found = []
    for day in _days_since(since):
        for reason in bucket.list_blobs(prefix=f"{QUARANTINE_PREFIX}{day:%Y-%m-%d}/"):
            if not reason.name.endswith(".reason.json"):
                continue
            why = json.loads(reason.download_as_bytes())
            target = reason.name.removesuffix(".reason.json")
            if why.get("run_id") != run_id or bucket.get_blob(target) is None:
                continue  # another run's, or a reason whose move did not happen
            found.append({
                "file": str(why.get("source", "")).removeprefix(source_prefix),
                "reason": why["reason"],
                "detail": why["detail"],
                "moved_to": f"gs://{settings.quarantine_bucket}/{target}",
            })  # fmt: skip
    return found


BadLinesSink = Callable[[LandedFile, Sequence[BadLine]], None]


def _progress_log(
    uri: str, size: int | None, every_seconds: float | None = None
) -> Callable[[ScanProgress], None]:
    """A task log line every ``every_seconds`` while a big file is validated (a multi-GB export
    takes minutes to stream): how far, how many rows, how many bad lines so far."""
    every_seconds = PROGRESS_SECONDS if every_seconds is None else every_seconds
    started = last = time.monotonic()

    def report(progress: ScanProgress) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every_seconds:
            return
        last = now
        share = f" ({progress.bytes_read / size:.0%})" if size else ""
        log.info(
            "validating %s: %.1f of %s MiB read%s in %.0f s, %s rows, %s bad line(s) so far",
            uri, progress.bytes_read / 2**20, f"{size / 2**20:.1f}" if size else "?", share, now - started,
            f"{progress.rows:,}", f"{progress.bad_lines:,}",
        )  # fmt: skip

    return report


#: A BigQuery load reads a ``*`` in a source URI as a wildcard ("each URI can contain one '*'
#: wildcard character", ``JobConfigurationLoad.sourceUris``): ``incoming/tx*.csv`` would load
#: every landed file it matches under this one file's identity. Cloud Storage allows the
#: character in a name; no load takes such an object alone, on either target.
WILDCARD = "*"
WILDCARD_DETAIL = (
    "the object name holds '*', which a BigQuery load reads as a wildcard over other landed files; "
    "rename the file without it and land it again"
)


def validate_landed(
    hook: GCSHook,
    settings: Settings,
    run_id: str,
    only_objects: Sequence[str] | None = None,
    on_bad_lines: BadLinesSink | None = None,
) -> tuple[list[LandedFile], list[dict]]:
    """Check landed files, streaming each once; quarantine unusable ones. Returns (good, quarantined).

    ``only_objects=None`` checks every file under the landing prefix (sensor and daily runs);
    a list checks just those names (event-driven runs: the notified objects). A named object
    that is no longer there was archived or quarantined by an earlier run and is skipped, which
    is what makes a duplicate notification a no-op. A good file with unparseable lines is
    handed to ``on_bad_lines`` (which records them as rejected lines) before it is returned.
    """
    good: list[LandedFile] = []
    quarantined: list[dict] = []
    limits = BadLineLimits.of(settings)
    bucket = hook.get_conn().bucket(settings.landing_bucket)
    names = list(only_objects) if only_objects is not None else list_landed(hook, settings)
    if len(names) > MAX_FILES_PER_RUN:
        # A run that lists the prefix leaves the rest to the next one; an event run's files come
        # from its notifications, which no later event run names again (docs/event_driven.md)
        waits_for = "the next run" if only_objects is None else "fraud_ingest_daily or fraud_ingest_sensor"
        log.warning("%d files to check: this run takes the first %d, the rest (%s, …) stay landed for %s",
                    len(names), MAX_FILES_PER_RUN, names[MAX_FILES_PER_RUN], waits_for)  # fmt: skip
        names = names[:MAX_FILES_PER_RUN]

    def set_aside(name: str, generation: str, reason: str, detail: str | None, md5: str | None) -> None:
        """Quarantine generation ``generation`` of ``name`` and report it, unless a newer one replaced it."""
        uri = quarantine(
            hook, settings, name, generation, reason=reason, detail=detail, md5=md5, run_id=run_id
        )
        if uri is None:
            log.warning("%s was overwritten while it was checked: the new generation stays landed", name)
            return
        log.warning("QUARANTINED %s: %s (%s) -> %s", name, reason, detail, uri)
        quarantined.append({"file": name, "reason": reason, "detail": detail, "moved_to": uri})

    for name in names:
        blob = bucket.get_blob(name)
        if blob is None:  # archived or quarantined by an earlier or concurrent run
            log.info("gs://%s/%s is no longer landed: nothing to do", settings.landing_bucket, name)
            continue
        # The generation get_blob read, taken before the stream: reading sets the blob's
        # generation from the download's x-goog-generation header, which the GCS emulator does
        # not send (every file's generation was "None" locally).
        generation = str(blob.generation)
        if WILDCARD in name:  # unread: no load can take this one object by its name
            set_aside(name, generation, "wildcard_in_name", WILDCARD_DETAIL, md5=None)
            continue
        # raw_download: the stored bytes (a gzip object stays gzip); Cloud Storage pins the read
        # to that generation (the emulator ignores it).
        with blob.open("rb", chunk_size=READ_CHUNK_BYTES, raw_download=True) as stream:
            check = scan_landing_stream(
                stream,
                limits,
                on_progress=_progress_log(f"gs://{settings.landing_bucket}/{name}", blob.size),
                stored_size=blob.size,
            )
        if not check.ok:
            set_aside(name, generation, str(check.reason), check.detail, check.md5)
            continue
        landed = LandedFile(
            bucket=settings.landing_bucket,
            name=name,
            generation=generation,
            md5=check.md5,
            size=check.size,
            rows=check.rows,
            bad_lines=len(check.bad_lines),
            compression=check.compression,
        )
        if check.bad_lines:
            log.warning(
                "%s: %d unparseable line(s) rejected, %d good rows load (first: line %d, %s)",
                landed.uri, landed.bad_lines, landed.rows, check.bad_lines[0].line, check.bad_lines[0].detail,
            )  # fmt: skip
            if on_bad_lines is not None:
                on_bad_lines(landed, check.bad_lines)
        if check.not_utf8_lines:
            log.warning(
                "%s: %d line(s) hold bytes that are not UTF-8 (first: line %d); they load with U+FFFD "
                "in their place, as a BigQuery load converts them",
                landed.uri, check.not_utf8_lines, check.first_not_utf8_line,
            )  # fmt: skip
        log.info("valid: %s (%d rows, md5 %s)", landed.uri, landed.rows, landed.md5)
        good.append(landed)
    return good, quarantined


def bad_lines_table(bad_lines: Sequence[BadLine]) -> pa.Table:
    """The rows of a file's reject-load table (``LandedFile.reject_table``), as Arrow."""
    import pyarrow as pa

    return pa.table(
        {
            "line_number": pa.array([b.line for b in bad_lines], pa.int64()),
            "reason": pa.array([b.reason for b in bad_lines], pa.string()),
            "detail": pa.array([b.detail for b in bad_lines], pa.string()),
            "transaction_id": pa.array([b.transaction_id for b in bad_lines], pa.string()),
            "card_last4": pa.array([b.card_last4 for b in bad_lines], pa.string()),
        }
    )


def record_bad_lines(warehouse: Warehouse, landed: LandedFile, bad_lines: Sequence[BadLine]) -> None:
    """Write a file's unparseable lines to its reject-load table: the append then inserts them
    into ``rejected_lines`` beside the good rows, the same on both targets."""
    if landed.reject_table is None:  # the table is named only when the file counted bad lines
        raise ValueError(f"{landed.uri}: {len(bad_lines)} bad line(s) for a file that counted none")
    warehouse.replace_table(landed.reject_table, bad_lines_table(bad_lines))


def move_generation(
    hook: GCSHook, bucket: str, name: str, generation: str, target_bucket: str, target: str
) -> bool:
    """Move generation ``generation`` of ``gs://bucket/name`` to ``target``; ``False`` when that
    generation is no longer landed (overwritten or deleted since it was read: nothing is copied).

    A producer may upload the same name again while a run works on it: Cloud Storage keeps the
    name for a new generation and notifies it. Moving by name would carry the new generation
    away unread (its own notification then finds nothing landed), so the copy reads the given
    generation and the delete holds only for it (``ifGenerationMatch``). When the name is
    overwritten between the copy and the delete, the delete is refused and the new generation
    stays landed; the generation given is then at ``target`` and nowhere else (the landing
    bucket keeps no old versions), so it has moved: ``True``, and a quarantine keeps its reason.
    """
    from google.api_core.exceptions import NotFound, PreconditionFailed

    source = hook.get_conn().bucket(bucket)
    blob = _still_landed(source, name, generation)
    if blob is None:
        return False
    source.copy_blob(blob, hook.get_conn().bucket(target_bucket), target, source_generation=int(generation))
    try:
        blob.delete(if_generation_match=int(generation))
    except (PreconditionFailed, NotFound):  # overwritten (or deleted) between the copy and the delete
        log.info(
            "gs://%s/%s was overwritten or deleted while generation %s moved to gs://%s/%s (a new generation stays landed)",
            bucket, name, generation, target_bucket, target,
        )  # fmt: skip
    return True


def archive(hook: GCSHook, settings: Settings, landed: LandedFile, since: datetime) -> str | None:
    """Move a loaded file out of the watched prefix, so sensors do not fire on it again; returns
    the archive's URI, or ``None`` when the generation loaded is neither landed nor archived.

    ``since`` is the run's start. When the generation loaded is no longer landed, an earlier try
    of this task (which did not finish) may have moved it: its generation's folder is looked
    for on each day from ``since`` on, and the URI found is returned. Otherwise the name was
    overwritten by a newer generation (that one stays landed, unread, for its own notification
    or the next run) or deleted since the load; the log says which.
    """
    target = moved_name(settings.archive_prefix, datetime.now(UTC), landed.generation, landed.name)
    if move_generation(hook, landed.bucket, landed.name, landed.generation, landed.bucket, target):
        return f"gs://{landed.bucket}/{target}"
    bucket = hook.get_conn().bucket(landed.bucket)
    for earlier in _moved_names_since(settings.archive_prefix, since, landed):
        if bucket.get_blob(earlier) is not None:
            log.info("%s was archived by an earlier try: gs://%s/%s", landed.uri, landed.bucket, earlier)
            return f"gs://{landed.bucket}/{earlier}"
    if bucket.get_blob(landed.name) is not None:
        log.warning(
            "%s was overwritten after generation %s was loaded: the new generation stays landed for the next run",
            landed.uri, landed.generation,
        )  # fmt: skip
    else:
        log.warning(
            "%s (generation %s) is neither landed nor archived: it was deleted after its load, whose rows are kept",
            landed.uri, landed.generation,
        )  # fmt: skip
    return None
