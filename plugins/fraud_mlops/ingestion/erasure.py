"""Right to erasure in landed files: rewrite archived objects without one card's rows.

The warehouse side is ``include/sql/96_erase_card.sql``; this is the file side. Archived
landing files keep card numbers for ``raw_retention_days``, so an erasure request rewrites
every archived CSV (plain or gzip) that holds the card, keeping every other row byte for byte
as parsed by ``csv``. It works on any object client with the ``GCSHook`` methods ``list``,
``download`` and ``upload`` (Cloud Storage, or the GCS emulator locally).
"""

from __future__ import annotations

import csv
import gzip
import io
from typing import Any

from fraud_mlops.pseudonym import luhn_valid, normalise_card_number


class ErasureRequestError(ValueError):
    """The request does not name a valid card number."""


def card_digits(card_number: str) -> str:
    """The normalised digits of a requested card; refuses anything that is not a card number."""
    digits = normalise_card_number(card_number.strip())
    if not (digits.isdigit() and 12 <= len(digits) <= 19 and luhn_valid(digits)):
        raise ErasureRequestError("the erasure request needs a valid card number (12-19 digits, Luhn)")
    return digits


def without_card(data: bytes, digits: str) -> tuple[bytes, int]:
    """``data`` (a landing CSV) without the rows of card ``digits``; and how many were removed."""
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or "card_number" not in rows[0]:
        return data, 0
    column = rows[0].index("card_number")
    kept = [rows[0]] + [
        r for r in rows[1:] if not (len(r) > column and normalise_card_number(r[column]) == digits)
    ]
    removed = len(rows) - len(kept)
    if not removed:
        return data, 0
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(kept)
    return out.getvalue().encode("utf-8"), removed


def erase_from_files(store: Any, bucket: str, prefix: str, card_number: str) -> dict[str, int]:
    """Rewrite each object under ``gs://bucket/prefix`` holding the card; ``{object: rows removed}``.

    ``store`` has ``GCSHook``'s ``list(bucket, prefix=)``, ``download(bucket, name) -> bytes`` and
    ``upload(bucket, name, data=)``.
    """
    digits = card_digits(card_number)
    removed: dict[str, int] = {}
    for name in store.list(bucket, prefix=prefix):
        if name.endswith("/") or name.endswith(".reason.json"):
            continue
        raw = store.download(bucket, name)
        compressed = name.endswith(".gz") or raw[:2] == b"\x1f\x8b"
        data = gzip.decompress(raw) if compressed else raw
        try:
            kept, count = without_card(data, digits)
        except (UnicodeDecodeError, csv.Error):
            continue  # not a landing CSV (the quarantine's unparseable files expire on their own)
        if count:
            store.upload(bucket, name, data=gzip.compress(kept, mtime=0) if compressed else kept)
            removed[name] = count
    return removed
