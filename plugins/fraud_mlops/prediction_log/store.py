"""The prediction log per target: where serving writes, and how the rows reach ``prediction_log``.

Both targets end in the same warehouse step, ``include/sql/83_prediction_log.sql``
(:func:`fraud_mlops.prediction_log.append.append_staged`), which appends
``prediction_log_staging`` (and the batch scores of ``card_predictions``) to ``prediction_log``
without duplicates. They differ only in how the staging rows appear:

* local: :meth:`LocalPredictionLog.stage` claims the spool files the function's background
  writers appended, and replaces the staging table with them (in the one-writer pool);
* gcp: the log sink (``infra/modules/monitoring``) streams entries into the log dataset as they
  are written; :meth:`CloudPredictionLog.stage` copies the recent ones into the staging table
  (``include/sql/88_prediction_log_sink.sql``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from fraud_mlops import sql_templates
from fraud_mlops.prediction_log.records import STAGING_TABLE, to_arrow
from fraud_mlops.prediction_log.sinks import SpoolSink, StructuredLogSink, claim_spool, read_spool
from fraud_mlops.prediction_log.writer import Sink
from fraud_mlops.settings import Settings

if TYPE_CHECKING:
    from fraud_mlops.warehouse.base import Warehouse


@dataclass(frozen=True)
class LocalPredictionLog:
    root: Path  # <local dir>/prediction_log

    #: Whether an answer's record is written before the request returns (see CloudPredictionLog);
    #: locally a background writer batches the spool appends, off the request path.
    in_request: ClassVar[bool] = False

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool"

    def sink(self) -> Sink:
        return SpoolSink(self.spool_dir)

    def stage(self, warehouse: Warehouse) -> int:
        """Replace the staging table with every unloaded spool row; return how many."""
        claimed = claim_spool(self.spool_dir, self.root / "claimed")
        rows = read_spool(claimed)
        warehouse.replace_table(STAGING_TABLE, to_arrow(rows))
        return len(rows)

    #: How long appended spool files are kept for inspection: they hold every answer's card
    #: pseudonym and features, an erased card's too (the log itself is erased).
    keep_loaded: ClassVar[timedelta] = timedelta(days=1)

    def staged(self) -> None:
        """After the append committed: the claimed files are done, kept :attr:`keep_loaded` for
        inspection (from when they were appended), then deleted."""
        done = self.root / "loaded"
        done.mkdir(parents=True, exist_ok=True)
        for path in (self.root / "claimed").glob("*.jsonl"):
            moved = Path(shutil.move(str(path), done / path.name))
            moved.touch()  # its age in loaded/ counts from here
        expired = (datetime.now(UTC) - self.keep_loaded).timestamp()
        for path in done.glob("*.jsonl"):
            if path.stat().st_mtime < expired:
                path.unlink()


#: Cloud Run functions (2nd gen) write stdout to the log run.googleapis.com/stdout; a BigQuery
#: sink names its table after the log id, "/" and "." replaced by "_".
SINK_TABLE = "run_googleapis_com_stdout"
#: where the first copy from the sink starts
EARLIEST_INSTANT = sql_templates.EARLIEST_INSTANT


@dataclass(frozen=True)
class CloudPredictionLog:
    log_dataset: str  # project.dataset the sink writes (infra: <dataset>_logs)
    settings: Settings
    overlap_hours: int = 48  # re-read before the newest answer logged; the append skips repeats
    #: where the newest answer is looked for first (every day only when these hold none)
    recent: ClassVar[timedelta] = timedelta(days=7)

    #: Cloud Run allots an instance CPU only while it handles a request (request-based billing,
    #: the function's default; https://cloud.google.com/run/docs/tips/general): work left to a
    #: background thread after the reply stalls until the next request and is lost when the
    #: instance goes. The answer's own record, one JSON line to stdout, is written in the request.
    in_request: ClassVar[bool] = True

    def sink(self) -> Sink:
        return StructuredLogSink()

    def stage(self, warehouse: Warehouse) -> int:
        """Copy the recent routed entries into the staging table (``-1``: the append counts them).

        Cloud Logging creates the sink's table with the first entry it routes
        (https://cloud.google.com/logging/docs/export/bigquery), so until the function has
        answered once there is no table to read: the staging table is then emptied, and the
        append still takes the batch scores.
        """
        from fraud_mlops.sql_templates import render_sql

        log_table = f"{self.log_dataset}.{SINK_TABLE}"
        if not warehouse.table_exists(log_table):
            print(f"no prediction-log entry routed yet: {log_table} does not exist (the sink creates it)")
            warehouse.replace_table(STAGING_TABLE, to_arrow([]))
            return 0
        since = self.copy_since(warehouse)
        print(f"staging the prediction-log entries routed since {since} from {log_table}")
        warehouse.execute(
            render_sql("88_prediction_log_sink.sql", self.settings, log_table=log_table, since=since)
        )
        return -1  # staged by a query job: counted by the append, not here

    def copy_since(self, warehouse: Warehouse, now: datetime | None = None) -> str:
        """Where the copy from the sink starts: ``overlap_hours`` before the newest online answer
        already logged (so entries routed late are read again, and the append skips repeats), or
        the earliest instant before anything is (the sink's table keeps ``log_retention_days``).

        Not a fixed time before now: a Composer outage or a paused DAG longer than that lost every
        entry routed meanwhile. The newest answer is looked for in the ``recent`` days first: an
        hourly run then reads a week of two narrow columns, not every day's.
        """
        from fraud_mlops.sql_templates import sql_instant

        if not warehouse.table_exists(f"{self.settings.dataset_ref}.prediction_log"):
            return EARLIEST_INSTANT
        recent = sql_instant((now or datetime.now(UTC)) - self.recent)
        newest = self._newest(warehouse, recent) or self._newest(warehouse, EARLIEST_INSTANT)
        if newest is None:
            return EARLIEST_INSTANT
        return sql_instant(newest - timedelta(hours=self.overlap_hours))

    def _newest(self, warehouse: Warehouse, since: str) -> datetime | None:
        from fraud_mlops.sql_templates import render_sql
        from fraud_mlops.warehouse.base import first_value, timestamp_utc

        newest = first_value(
            warehouse.records(render_sql("93_prediction_log_newest.sql", self.settings, since=since))
        )
        return None if newest is None else timestamp_utc(newest)

    def staged(self) -> None:
        return None
