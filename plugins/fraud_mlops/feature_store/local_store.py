"""The local target's online store: SQLite in WAL mode, one immutable table per sync.

Why this shape:

* **Atomic for readers.** A sync writes a brand-new table nobody reads yet, then, in one short
  transaction, points the ``online_features`` view at it and records the sync. A single-key
  lookup is one statement against that view; a many-key lookup runs inside one read
  transaction. WAL gives every read transaction a stable snapshot, so a reader sees the old
  version or the new one, never a mix, and is never blocked by the writer.
* **Versioned.** The view carries the sync id as a column, so every answer says which sync it
  came from; ``sync_log`` keeps the id, time, row count and source snapshot of every sync.
* **Typed columns from the feature definition.** Column names and types come from
  :data:`fraud_mlops.features.FEATURES`, values are stored exactly (SQLite REAL is the same
  IEEE double as BigQuery FLOAT64), NULL stays NULL. The store is readable with any SQLite
  client.

Readers keep one connection per thread and process (SQLite connections must not cross a
``fork`` or, by default, a thread).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fraud_mlops.feature_store.records import (
    STATE_NAMES,
    FeatureLookup,
    FeatureRow,
    OnlineStoreNotReady,
    SyncRecord,
    card_state,
    utc_from_micros,
)
from fraud_mlops.features import ENTITY_KEY, FEATURE_NAMES, FEATURES

ONLINE_VIEW = "online_features"
EVENT_TIME_COLUMN = "event_time_us"  # microseconds since the epoch, UTC (exact, unlike float seconds)
KEEP_VERSIONS = 2  # the serving table and the one before it
#: An erasure's sync empties the write-ahead log of the dropped versions' pages: each attempt
#: waits up to the connection's busy timeout for readers' transactions, then the sync fails.
TRUNCATE_ATTEMPTS = 3
_MAX_PARAMS = 500  # keys per IN (...) statement; SQLite's limit is far higher, this keeps plans small
_Layout = tuple[
    int, int, int, tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]
]  # key, time, sync, features, state
_SQLITE_TYPES = {"INT64": "INTEGER", "FLOAT64": "REAL"}
_SAFE_ID = re.compile(r"[^A-Za-z0-9_]")
_SYNC_ID = re.compile(r"[A-Za-z0-9_.:-]{1,80}")  # ends up quoted inside the view's SQL

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_log (
    sync_id TEXT PRIMARY KEY,
    synced_at TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    source TEXT NOT NULL,
    source_snapshot TEXT,
    fingerprint TEXT,
    duration_seconds REAL,
    table_name TEXT NOT NULL,
    feature_names TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serving_state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    sync_id TEXT NOT NULL REFERENCES sync_log (sync_id)
);
"""


def table_name_for(sync_id: str) -> str:
    return "features_" + _SAFE_ID.sub("_", sync_id)


class LocalOnlineStore:
    """Write versions and read features; safe for many reader threads and processes."""

    #: seconds a connection waits for another's lock (sqlite3's ``timeout``)
    busy_timeout: float = 30.0

    def __init__(self, path: Path | str, feature_names: Sequence[str] = FEATURE_NAMES) -> None:
        self.path = Path(path)
        self.feature_names = tuple(feature_names)
        self._local = threading.local()

    # -- connections ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _reader(self) -> sqlite3.Connection:
        """This thread's connection (reopened after a fork: the pid is part of the key)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            if not self.path.exists():  # a reader never creates the store
                raise OnlineStoreNotReady(f"online store {self.path} has not been synced yet")
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA mmap_size=268435456")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    # -- sync (writer) -------------------------------------------------------------------

    def publish(
        self,
        batches: Iterable[Sequence[Sequence[Any]]],
        record: SyncRecord,
        started: float | None = None,
        forget_earlier: bool = False,
    ) -> SyncRecord:
        """Write a new version from row batches, then make it the serving one atomically.

        Each row is ``(entity key, event time in UTC microseconds, *features)`` in
        ``self.feature_names`` order, optionally followed by the card's serving state
        (:data:`~fraud_mlops.feature_store.records.STATE_NAMES`, lists stored as JSON text). Returns ``record`` with the row count and duration
        (since ``started``, a ``time.perf_counter()`` value) filled in. A duplicate entity key
        fails the sync (the source must have one row per card) and leaves the serving version
        untouched.

        ``forget_earlier`` (an erasure's sync): no earlier version is kept, not even the one
        before, and their pages are overwritten in the file and its log, so an erased card is
        gone from the store, not only from the serving version.
        """
        started = time.perf_counter() if started is None else started
        if not _SYNC_ID.fullmatch(record.sync_id):
            raise ValueError(f"unsafe sync id {record.sync_id!r}")
        table = table_name_for(record.sync_id)
        columns = ", ".join(
            [f"{f.name} {_SQLITE_TYPES[f.bq_type]}" for f in self._features()]
            + [f"{name} {'INTEGER' if name == 'previous_time' else 'TEXT'}" for name in STATE_NAMES]
        )
        width = len(self.feature_names) + 2
        placeholders = ", ".join("?" * (width + len(STATE_NAMES)))
        conn = self._connect()
        try:
            # Dropped versions' pages are zeroed, not left readable on the free list (Debian's
            # SQLite does so by default, other builds do not): an erased card's too.
            conn.execute("PRAGMA secure_delete = ON")
            conn.executescript(_SCHEMA)
            conn.execute(
                f"CREATE TABLE {table} ({ENTITY_KEY} TEXT PRIMARY KEY, "
                f"{EVENT_TIME_COLUMN} INTEGER NOT NULL, {columns}) WITHOUT ROWID"
            )
            rows = 0
            try:
                # Not one transaction: the table is invisible until the swap below, and
                # committing per batch lets WAL checkpoints keep the log file small.
                for batch in batches:
                    conn.execute("BEGIN")
                    conn.executemany(
                        f"INSERT INTO {table} VALUES ({placeholders})", _with_state(batch, width)
                    )
                    conn.execute("COMMIT")
                    rows += len(batch)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute(f"DROP TABLE IF EXISTS {table}")
                raise
            record = replace(record, row_count=rows, duration_seconds=round(time.perf_counter() - started, 3))
            self._swap(conn, table, record)
            self._drop_old_versions(conn, keep_versions=1 if forget_earlier else KEEP_VERSIONS)
            if forget_earlier:
                _truncate_log(conn)
            else:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
        return record

    def _features(self) -> list[Any]:
        by_name = {f.name: f for f in FEATURES}
        return [by_name[name] for name in self.feature_names]

    def _swap(self, conn: sqlite3.Connection, table: str, record: SyncRecord) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DROP VIEW IF EXISTS {ONLINE_VIEW}")
            conn.execute(f"CREATE VIEW {ONLINE_VIEW} AS SELECT *, '{record.sync_id}' AS sync_id FROM {table}")
            conn.execute(
                "INSERT INTO sync_log (sync_id, synced_at, row_count, source, source_snapshot, "
                "fingerprint, duration_seconds, table_name, feature_names) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.sync_id,
                    record.synced_at,
                    record.row_count,
                    record.source,
                    record.source_snapshot,
                    record.fingerprint,
                    record.duration_seconds,
                    table,
                    json.dumps(self.feature_names),
                ),
            )
            conn.execute(
                "INSERT INTO serving_state (singleton, sync_id) VALUES (1, ?) "
                "ON CONFLICT (singleton) DO UPDATE SET sync_id = excluded.sync_id",
                (record.sync_id,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _drop_old_versions(self, conn: sqlite3.Connection, keep_versions: int = KEEP_VERSIONS) -> None:
        """Keep the serving table and its predecessor (``keep_versions``); a reader mid-transaction
        keeps its snapshot of a dropped table (WAL), so dropping never breaks an ongoing lookup."""
        keep = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM sync_log ORDER BY rowid DESC LIMIT ?",
                (keep_versions,),
            )
        }
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'features\\_%' ESCAPE '\\'"
            )
        ]
        for table in tables:
            if table not in keep:
                conn.execute(f"DROP TABLE IF EXISTS {table}")

    # -- metadata ------------------------------------------------------------------------

    def current_sync(self) -> SyncRecord | None:
        """The serving version's record, or None before the first sync."""
        if not self.path.exists():
            return None
        conn = self._reader()
        try:
            row = conn.execute(
                "SELECT l.sync_id, l.synced_at, l.row_count, l.source, l.source_snapshot, "
                "l.fingerprint, l.duration_seconds FROM serving_state s "
                "JOIN sync_log l USING (sync_id)"
            ).fetchone()
        except sqlite3.OperationalError as exc:  # no tables yet: never synced
            if "no such table" in str(exc):
                return None
            raise
        return None if row is None else _record(row)

    def history(self) -> list[SyncRecord]:
        """Every sync, oldest first."""
        if not self.path.exists():
            return []
        conn = self._reader()
        try:
            rows = conn.execute(
                "SELECT sync_id, synced_at, row_count, source, source_snapshot, fingerprint, "
                "duration_seconds FROM sync_log ORDER BY rowid"
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [_record(r) for r in rows]

    # -- lookups (readers) ---------------------------------------------------------------

    def fetch_one(self, entity_id: str) -> FeatureRow | None:
        """The card's latest features, or None for a card the store does not know."""
        conn = self._reader()
        cursor = self._execute(conn, f"SELECT * FROM {ONLINE_VIEW} WHERE {ENTITY_KEY} = ?", (entity_id,))
        row = cursor.fetchone()
        return None if row is None else self._row(self._layout(_columns(cursor)), row)

    def fetch(self, entity_ids: Sequence[str]) -> FeatureLookup:
        """Many cards from one consistent version (one read transaction for all chunks)."""
        wanted = list(dict.fromkeys(entity_ids))
        found: dict[str, FeatureRow] = {}
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            for start in range(0, len(wanted), _MAX_PARAMS):
                chunk = wanted[start : start + _MAX_PARAMS]
                marks = ", ".join("?" * len(chunk))
                cursor = self._execute(
                    conn, f"SELECT * FROM {ONLINE_VIEW} WHERE {ENTITY_KEY} IN ({marks})", chunk
                )
                layout = self._layout(_columns(cursor))
                for row in cursor.fetchall():
                    feature_row = self._row(layout, row)
                    found[feature_row.entity_id] = feature_row
        finally:
            conn.execute("COMMIT")
        sync_ids = {r.sync_id for r in found.values()}
        return FeatureLookup(
            found=found,
            unknown=tuple(k for k in wanted if k not in found),
            sync_id=sync_ids.pop() if len(sync_ids) == 1 else None,
        )

    def _execute(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise OnlineStoreNotReady(f"online store {self.path} has not been synced yet") from exc
            raise

    @staticmethod
    def _row(layout: _Layout, row: Sequence[Any]) -> FeatureRow:
        key, when, sync_id, features, state = layout
        return FeatureRow(
            entity_id=row[key],
            values={name: row[i] for name, i in features},
            feature_timestamp=utc_from_micros(row[when]),
            sync_id=row[sync_id],
            state=card_state({name: row[i] for name, i in state}) if state else None,
        )

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a few layouts per store, for its lifetime
    def _layout(self, columns: tuple[str, ...]) -> _Layout:
        """Column positions of a result, computed once per layout instead of once per row."""
        index = {name: i for i, name in enumerate(columns)}
        missing = [n for n in self.feature_names if n not in index]
        if missing:
            raise OnlineStoreNotReady(f"the serving version lacks features {missing}: re-sync the store")
        return (
            index[ENTITY_KEY],
            index[EVENT_TIME_COLUMN],
            index["sync_id"],
            tuple((name, index[name]) for name in self.feature_names),
            tuple((name, index[name]) for name in STATE_NAMES if name in index),
        )


def _truncate_log(conn: sqlite3.Connection) -> None:
    """Copy the write-ahead log into the file and empty it: the log keeps the pages of dropped
    versions until then. SQLite answers busy (it does not raise) while a reader's transaction
    still needs the log; after :data:`TRUNCATE_ATTEMPTS` such answers the sync fails, and its
    retry (which publishes again) empties the log."""
    for _ in range(TRUNCATE_ATTEMPTS):
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
    raise sqlite3.OperationalError(
        f"the online store's log still holds dropped versions: readers kept it busy {TRUNCATE_ATTEMPTS} times"
    )


def _with_state(batch: Sequence[Sequence[Any]], width: int) -> Iterable[Sequence[Any]]:
    """Rows padded to the state columns (NULL when a row has none); lists as JSON text."""
    for row in batch:
        if len(row) == width:
            yield (*row, *([None] * len(STATE_NAMES)))
        else:
            yield (*row[:width], *(json.dumps(v) if isinstance(v, list | tuple) else v for v in row[width:]))


def _columns(cursor: sqlite3.Cursor) -> tuple[str, ...]:
    return tuple(d[0] for d in cursor.description)


def _record(row: Sequence[Any]) -> SyncRecord:
    return SyncRecord(
        sync_id=row[0],
        synced_at=row[1],
        row_count=row[2],
        source=row[3],
        source_snapshot=row[4],
        fingerprint=row[5],
        duration_seconds=row[6],
        target="local",
    )
