"""Landed files: list, validate, quarantine and archive them in GCS.

Target-agnostic: everything goes through the Google provider's ``GCSHook``, which talks to
Cloud Storage on gcp and to the GCS emulator locally. A file that cannot be loaded (empty,
not UTF-8, wrong header, unparseable rows) is moved to the quarantine bucket with a
``.reason.json`` beside it, so nothing is lost and the run says why. Row-level problems are
not decided here: they go to ``rejected_rows`` in the staging SQL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fraud_mlops.landing_schema import LANDING_COLUMNS, LandedFile
from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileCheck:
    ok: bool
    rows: int
    reason: str | None = None
    detail: str | None = None


def check_landing_csv(data: bytes) -> FileCheck:
    """File-level validation of a landing CSV (row-level rules live in the staging SQL)."""
    if not data.strip():
        return FileCheck(False, 0, "empty_file", "the file has no content")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return FileCheck(False, 0, "not_utf8", f"byte {err.start}: {err.reason}")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as err:
        return FileCheck(False, 0, "unparseable", f"header: {err}")
    expected = list(LANDING_COLUMNS)
    if header != expected:
        missing = [c for c in expected if c not in header]
        unexpected = [c for c in header if c not in expected]
        if missing or unexpected:
            detail = f"missing columns {missing}, unexpected columns {unexpected}"
        else:
            detail = f"columns in the wrong order: {header}"
        return FileCheck(False, 0, "wrong_header", detail)
    rows = 0
    try:
        for line_no, row in enumerate(reader, start=2):
            if len(row) != len(expected):
                if not row:
                    continue  # a blank line is harmless
                return FileCheck(
                    False, rows, "unparseable", f"line {line_no}: {len(row)} fields, expected {len(expected)}"
                )
            rows += 1
    except csv.Error as err:
        return FileCheck(False, rows, "unparseable", f"line {reader.line_num}: {err}")
    if rows == 0:
        return FileCheck(False, 0, "no_data_rows", "the file has a header but no rows")
    return FileCheck(True, rows)


def list_landed(hook: GCSHook, settings: Settings) -> list[str]:
    names = hook.list(settings.landing_bucket, prefix=settings.landing_prefix)
    return sorted(n for n in names if not n.endswith("/"))


def quarantine(
    hook: GCSHook, settings: Settings, name: str, data: bytes, check: FileCheck, run_id: str
) -> str:
    """Move ``name`` to the quarantine bucket with a reason file; returns the new URI."""
    stamp = datetime.now(UTC)
    target = f"quarantine/{stamp:%Y-%m-%d}/{name.rsplit('/', 1)[-1]}"
    reason = {
        "reason": check.reason,
        "detail": check.detail,
        "source": f"gs://{settings.landing_bucket}/{name}",
        "md5": hashlib.md5(data).hexdigest(),
        "quarantined_at": stamp.isoformat(),
        "run_id": run_id,
    }
    hook.upload(settings.quarantine_bucket, target, data=data)
    hook.upload(
        settings.quarantine_bucket,
        target + ".reason.json",
        data=json.dumps(reason, indent=2),
        mime_type="application/json",
    )
    hook.delete(settings.landing_bucket, name)
    return f"gs://{settings.quarantine_bucket}/{target}"


def validate_landed(
    hook: GCSHook, settings: Settings, run_id: str, only_objects: Sequence[str] | None = None
) -> tuple[list[LandedFile], list[dict]]:
    """Check landed files; quarantine bad ones. Returns (good, quarantined).

    ``only_objects=None`` checks every file under the landing prefix (sensor and daily runs);
    a list checks just those names (event-driven runs: the notified objects). A named object
    that is no longer there was archived or quarantined by an earlier run and is skipped, which
    is what makes a duplicate notification a no-op.
    """
    good: list[LandedFile] = []
    quarantined: list[dict] = []
    bucket = hook.get_conn().bucket(settings.landing_bucket)
    names = list(only_objects) if only_objects is not None else list_landed(hook, settings)
    for name in names:
        blob = bucket.get_blob(name)
        if blob is None:  # archived or quarantined by an earlier or concurrent run
            log.info("gs://%s/%s is no longer landed: nothing to do", settings.landing_bucket, name)
            continue
        data = blob.download_as_bytes()
        check = check_landing_csv(data)
        if not check.ok:
            uri = quarantine(hook, settings, name, data, check, run_id)
            log.warning("QUARANTINED %s: %s (%s) -> %s", name, check.reason, check.detail, uri)
            quarantined.append(
                {"file": name, "reason": check.reason, "detail": check.detail, "moved_to": uri}
            )
            continue
        landed = LandedFile(
            bucket=settings.landing_bucket,
            name=name,
            generation=str(blob.generation),
            md5=hashlib.md5(data).hexdigest(),
            size=len(data),
            rows=check.rows,
        )
        log.info("valid: %s (%d rows, md5 %s)", landed.uri, landed.rows, landed.md5)
        good.append(landed)
    return good, quarantined


def archive(hook: GCSHook, settings: Settings, landed: LandedFile) -> str:
    """Move a loaded file out of the watched prefix, so sensors do not fire on it again."""
    target = f"{settings.archive_prefix}{datetime.now(UTC):%Y-%m-%d}/{landed.base_name}"
    if not hook.exists(landed.bucket, landed.name):
        return f"gs://{landed.bucket}/{target}"  # archived by an earlier try
    hook.copy(landed.bucket, landed.name, landed.bucket, target)
    hook.delete(landed.bucket, landed.name)
    return f"gs://{landed.bucket}/{target}"
