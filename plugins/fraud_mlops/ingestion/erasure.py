"""Right to erasure in landed files: rewrite objects without one card's rows.

The warehouse side is ``include/sql/96_erase_card.sql``; this is the file side. Landed files
hold card numbers in clear (waiting to be ingested, archived for ``raw_retention_days``, or
quarantined), so an erasure request rewrites every such CSV (plain or gzip) that holds the card,
keeping every other line byte for byte. It works on a
``google.cloud.storage.Client`` (``GCSHook.get_conn()``: Cloud Storage, or the GCS emulator).

A rewrite is a new object, and a bucket's age rule counts from an object's creation: the
rewritten file would keep every other card of the file for another ``raw_retention_days``. The
new object therefore carries the original's creation time as its ``customTime`` (the earlier
one, if it already has one), and the archive and the quarantine delete files by
``days_since_custom_time`` too (``infra/modules/storage``): an erasure never extends retention.

Files are streamed, as validation streams them, in chunks of ``READ_CHUNK_BYTES``: a first
pass counts the card's lines and writes nothing; only a file that holds the card is read again,
its kept lines written to a temporary file that is then uploaded. A worker's memory holds a
chunk and a line, whatever the file's size; its local disk holds the rewritten copy of one file
that holds the card (gzip files compressed), never a copy of the others.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import tempfile
import zlib
from typing import Any, BinaryIO, cast

from fraud_mlops.ingestion.landed_files import GZIP_MAGIC, READ_CHUNK_BYTES, Prefixed
from fraud_mlops.pseudonym import luhn_valid, normalise_card_number
from fraud_mlops.settings import Settings

log = logging.getLogger(__name__)


class ErasureRequestError(ValueError):
    """The request does not name a valid card number."""


class UnreadableFile(Exception):
    """A landed file no erasure can read (a gzip that does not decompress); it may hold the card."""


def card_digits(card_number: str) -> str:
    """The normalised digits of a requested card; refuses anything that is not a card number."""
    digits = normalise_card_number(card_number.strip())
    # ASCII digits only: str.isdigit() takes fullwidth and other Unicode digits, which no stored
    # card holds, and the erasure would have found nothing and ended green
    if not (re.fullmatch(r"[0-9]{12,19}", digits) and luhn_valid(digits)):
        raise ErasureRequestError("the erasure request needs a valid card number (12-19 digits, Luhn)")
    return digits


def without_card(data: bytes, digits: str) -> tuple[bytes, int]:
    """``data`` (a landed file) without the lines holding card ``digits``; and how many went.

    Lines as ingestion reads them (``landed_files``: one record per physical line; "\\n",
    "\\r\\n" and a lone "\\r" end one). A line holds the card when, spaces and dashes taken
    out as ingestion normalises a card number, the card's digits stand in it as a whole run:
    in its card field, in another one (a line ingestion rejects, as the archive and the
    quarantine keep them), in a line with broken quoting or in a file without the expected
    header. Every other line is kept byte for byte, its line ending and any byte that is not
    UTF-8 included.
    """
    kept = io.BytesIO()
    removed = copy_without_card(io.BytesIO(data), kept, digits)
    return (kept.getvalue(), removed) if removed else (data, 0)


def copy_without_card(source: BinaryIO, target: BinaryIO | None, digits: str) -> int:
    """Copy ``source`` to ``target`` line by line without the lines holding card ``digits``
    (:func:`without_card`'s rule); how many went (``target`` None: only counted). Memory holds
    one line and the streams' buffers.

    Decompression errors of a gzip ``source`` are raised as :class:`UnreadableFile`.
    """
    card = re.compile(rf"(?<![0-9]){digits}(?![0-9])")
    # newline="": "\n", "\r\n" and a lone "\r" end a line, returned untranslated (also across
    # chunks); surrogateescape carries bytes that are not UTF-8 through unchanged
    reader = io.TextIOWrapper(source, encoding="utf-8", errors="surrogateescape", newline="")
    writer = (
        io.TextIOWrapper(target, encoding="utf-8", errors="surrogateescape", newline="")
        if target is not None
        else None
    )
    write = writer.write if writer is not None else _discard
    removed = 0
    try:
        for line in reader:
            if card.search(normalise_card_number(line)):
                removed += 1
            else:
                write(line)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnreadableFile(f"gzip that does not decompress ({type(exc).__name__}: {exc})") from exc
    finally:
        # flushed and let go, also after an error: the caller closes its streams (a wrapper
        # collected later would close them, and write to a file already closed)
        if writer is not None:
            writer.detach()
        reader.detach()
    return removed


def files_with_card_numbers(settings: Settings) -> list[tuple[str, str]]:
    """``(bucket, prefix)`` of every place landed files hold card numbers in clear: files not yet
    ingested (a later run would bring the card back), the archive, and the quarantine (a file
    with too many bad lines is quarantined whole, its good rows included)."""
    return [
        (settings.landing_bucket, settings.landing_prefix),
        (settings.landing_bucket, settings.archive_prefix),
        (settings.quarantine_bucket, ""),
    ]


def erase_from_landed_files(
    client: Any, settings: Settings, card_number: str, unreadable: dict[str, str] | None = None
) -> dict[str, int]:
    """:func:`erase_from_files` over :func:`files_with_card_numbers`; ``{gs:// uri: rows removed}``
    (``unreadable``, if given, gets ``{gs:// uri: why}`` of the files no erasure could read)."""
    removed: dict[str, int] = {}
    for bucket, prefix in files_with_card_numbers(settings):
        missed: dict[str, str] = {}
        for name, count in erase_from_files(client, bucket, prefix, card_number, missed).items():
            removed[f"gs://{bucket}/{name}"] = count
        if unreadable is not None:
            unreadable.update({f"gs://{bucket}/{name}": why for name, why in missed.items()})
    return removed


def erase_from_files(
    client: Any, bucket: str, prefix: str, card_number: str, unreadable: dict[str, str] | None = None
) -> dict[str, int]:
    """Rewrite each object under ``gs://bucket/prefix`` holding the card; ``{object: rows removed}``.

    The rewrite keeps the original's expiry clock (``customTime``, above), content type and
    content encoding, and replaces only the generation it read (``if_generation_match``): a file archived again in the
    meantime is not overwritten with stale rows, the erasure fails instead and its retry reads it.
    A file that cannot be read (gzip that does not decompress: ingestion quarantines it, and no
    load can bring its rows back) does not stop the others: it is logged as a warning and added
    to ``unreadable`` (``{object: why}``), for a person to delete; it may hold the card.
    """
    digits = card_digits(card_number)
    removed: dict[str, int] = {}
    for blob in client.list_blobs(bucket, prefix=prefix):
        name = blob.name
        if name.endswith("/") or name.endswith(".reason.json"):
            continue
        # taken before the read, which sets it from a header the GCS emulator does not send
        generation = blob.generation
        try:
            count = _rewrite(blob, generation, None, digits)  # counted: nothing written
        except UnreadableFile as exc:
            log.warning(
                "gs://%s/%s: not read for the erasure, %s; it may hold the card: delete it", bucket, name, exc
            )
            if unreadable is not None:
                unreadable[name] = str(exc)
            continue
        if not count:
            continue
        with tempfile.TemporaryFile() as kept:
            _rewrite(blob, generation, kept, digits)
            kept.seek(0)
            # a resumable upload in chunks: without a chunk size the client holds 100 MiB
            rewritten = client.bucket(bucket).blob(name, chunk_size=READ_CHUNK_BYTES)
            rewritten.custom_time = min(t for t in (blob.custom_time, blob.time_created) if t is not None)
            rewritten.content_encoding = blob.content_encoding
            rewritten.upload_from_file(kept, content_type=blob.content_type, if_generation_match=generation)
        removed[name] = count
    return removed


def _rewrite(blob: Any, generation: int | None, kept: BinaryIO | None, digits: str) -> int:
    """Stream ``blob`` (the generation listed) into ``kept`` without the card's lines, compressed
    again if it was (``kept`` None: only counted); how many lines went."""
    # the stored bytes: an object stored with Content-Encoding: gzip would otherwise be served
    # decompressed (Cloud Storage's decompressive transcoding), as ingestion never reads it
    with blob.open(
        "rb", chunk_size=READ_CHUNK_BYTES, raw_download=True, if_generation_match=generation
    ) as stored:
        head = stored.read(len(GZIP_MAGIC))
        replayed = cast(BinaryIO, io.BufferedReader(Prefixed(head, stored)))  # no second download
        # gzip by its magic bytes, as ingestion (and BigQuery) decide, whatever the name says:
        # a plain CSV named .gz loads, and must be read as it loads
        if head != GZIP_MAGIC:
            return copy_without_card(replayed, kept, digits)
        with gzip.GzipFile(fileobj=replayed, mode="rb") as source:
            if kept is None:
                return copy_without_card(cast(BinaryIO, source), None, digits)
            with gzip.GzipFile(filename="", fileobj=kept, mode="wb", mtime=0) as target:
                return copy_without_card(cast(BinaryIO, source), cast(BinaryIO, target), digits)


def _discard(line: str) -> int:
    return len(line)


def served_after_erasure(settings: Settings, digits: str) -> Any:
    """The online store's record of the card (a ``FeatureRow``) once the erasure's sync is done,
    or None when the store no longer answers for it, as it must not.

    The pseudonym is computed by the warehouse (``78_card_pseudonym.sql``, the card a query
    parameter), as the erasure's delete computes it: Composer holds no direct KMS decrypt. The
    lookup is the prediction function's (``OnlineFeatureReader.fetch_one``). Locally the sync
    wrote a version without the card, so it answers None. On gcp a Bigtable online store keeps
    the card's last synced record until the feature view is recreated (Google's documented
    behaviour, ``VertexFeatureStore.erasure_gap``), so the record comes back, and the erase DAG
    fails its run on it: the erasure is not complete while the function can answer for the card.
    """
    from fraud_mlops import targets
    from fraud_mlops.sql_templates import SQL_FILES, render_sql

    rows = targets.warehouse(settings).records(
        render_sql(SQL_FILES["card_pseudonym"], settings), {"card_number": digits}
    )
    if len(rows) != 1 or not rows[0][0]:
        raise RuntimeError(f"the warehouse gave no pseudonym for card …{digits[-4:]}: {len(rows)} row(s)")
    return targets.feature_store(settings).reader().fetch_one(str(rows[0][0]))
