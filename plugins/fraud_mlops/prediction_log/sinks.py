"""Where a batch of prediction-log records goes, per target (picked in ``targets.prediction_log``).

* :class:`SpoolSink` (local): appends JSON lines to one spool file per process; the monitoring
  DAG's ``append_prediction_log`` task claims the files and appends them to the warehouse in the
  one-writer pool. The function never opens DuckDB: it allows one writing process, and the
  Airflow tasks writing the warehouse must not fail on a lock held by the prediction function.
* :class:`StructuredLogSink` (gcp): one structured log line per record on stdout, which Cloud Run
  functions ships to Cloud Logging; the log sink of ``infra/modules/monitoring`` routes entries with
  ``jsonPayload.log_type="prediction_log"`` into BigQuery; ``include/sql/88_prediction_log_sink.sql``
  stages them in this module's shape for the same append SQL. The row travels as one JSON string
  (``jsonPayload.record``): the sink derives its table's columns from the entries it has seen,
  and a field that was null so far would otherwise be missing from it.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

LOG_TYPE = "prediction_log"


class SpoolSink:
    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = Path(spool_dir)

    def path(self) -> Path:
        return self.spool_dir / f"{os.uname().nodename}-{os.getpid()}.jsonl"

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, row in enumerate(batch):
            lines.append(json.dumps(row, separators=(",", ":")) + "\n")
            if i % 32 == 31:
                time.sleep(0)  # the writer shares the GIL with request threads: short bursts
        data = "".join(lines).encode()
        # open per batch: a loader may have renamed the file meanwhile (then a new one starts)
        fd = os.open(self.path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # the loader takes the same lock before reading
            os.write(fd, data)
        finally:
            os.close(fd)


class StructuredLogSink:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        stream = self.stream or sys.stdout
        lines = (
            json.dumps(
                {"severity": "INFO", "message": LOG_TYPE, "log_type": LOG_TYPE, "record": json.dumps(r)}
            )
            + "\n"
            for r in batch
        )
        stream.write("".join(lines))
        stream.flush()


def claim_spool(spool_dir: Path, claimed_dir: Path) -> list[Path]:
    """Move every spool file aside (atomic rename), then wait for any write in flight to end."""
    claimed_dir.mkdir(parents=True, exist_ok=True)
    claimed = sorted(claimed_dir.glob("*.jsonl"))  # left by an earlier, failed load: retried
    for path in sorted(Path(spool_dir).glob("*.jsonl")) if Path(spool_dir).is_dir() else []:
        target = claimed_dir / f"{path.stem}-{os.stat(path).st_ino}.jsonl"
        os.replace(path, target)
        claimed.append(target)
    for path in claimed:
        with open(path, "rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # a writer holding the old inode finishes
    return sorted(set(claimed))


def read_spool(paths: list[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # a torn line of a crashed writer: skipped, not fatal
                    continue
    return rows
