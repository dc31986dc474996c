"""Incremental == full refresh: land a history file by file, compare with the reference rebuild.

The history lands one file at a time through the real path (GCS emulator → streaming
validation → load → append) and each file is transformed incrementally right after, as an
event-driven run would. It includes late days (landed after later days; one more than a
window late for a card), an exact re-landing of a file, a re-sent file repeating earlier
transaction ids with other values, ids repeated with another event time, invalid rows and an
unparseable line. The reference is the
full-refresh SQL this project used before (tests/reference/full_refresh/), run once over the
same raw rows in a second database. Every published table must be equal, row for row.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops.settings import Settings
from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
from tests.reference.full_refresh_sql import copy_raw, reference_sql
from tests.sql_chain import day_counts_of, ingest_landed, published_day_counts, transform

#: Published tables and the columns that identify a row (rejected_at is the time of the run).
TABLES = {
    "stg_transactions": ["transaction_id"],
    "rejected_rows": ["_file_name", "line_number", "transaction_id", "reason", "raw_amount"],
    "card_features": ["transaction_id"],
    "training_examples": ["transaction_id"],
    "latest_card_features": ["card_pseudonym"],
}


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(prefix + "0")):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return prefix + str((10 - total % 10) % 10)


def daily_files() -> list[tuple[str, pd.DataFrame | bytes]]:
    """(name, content) in landing order: days out of order, re-sends, duplicates, bad rows/lines,
    a row on a card's published latest second."""
    landing = generate(
        GeneratorConfig(rows=4_000, seed=7, days=10, rows_per_card=40, merchants=60, fraud_rate=0.02)
    ).landing.astype(str)
    day = pd.to_datetime(landing["event_time"]).dt.day
    days = {d: landing[day == d].copy() for d in sorted(day.unique())}
    first, *_ = days
    # A quiet card, seen on days 1, 9, 10 and 18 only, day 9 landing last. Its rows on days 10
    # and 18 have no earlier row within their look-back: the previous one comes from the
    # published serving state. Day 9 lands more than a window before the card's latest row and
    # after a later one: the state cannot tell its previous row, so older staging is read.
    quiet = luhn_complete("4000123412341")
    for d in (first, first + 8, first + 9):
        days[d].loc[days[d].index[-1], ["card_number", "merchant"]] = [quiet, "quiet merchant"]
    quiet_late = days[first + 9].tail(1).copy()
    quiet_late["transaction_id"] = "quiet-day-18"
    quiet_late["event_time"] = (pd.to_datetime(quiet_late["event_time"]) + pd.Timedelta(days=8)).astype(str)
    order = [
        first,
        first + 1,
        first + 2,
        first + 4,
        first + 5,
        first + 3,
        first + 6,
        first + 7,
        first + 9,
        first + 8,
    ]
    files: list[tuple[str, pd.DataFrame | bytes]] = []
    for d in order:
        frame = days[d]
        if d == first + 1:
            frame.loc[frame.index[0], "card_number"] = "4111 1111 1111 1112"  # Luhn fails: rejected row
        if d == first + 7:  # ids already staged on day one, with another event time
            again = days[first].head(5).copy()
            again["event_time"] = frame["event_time"].iloc[0]
            frame = pd.concat([frame, again])
        files.append((f"day{d:02d}.csv", frame))
        if d == first + 1:
            files.append((f"day{d:02d}_again.csv", frame))  # same bytes: a duplicate landing
        if d == first + 9:
            files.append(("quiet_day18.csv", quiet_late))
        if d == first + 4:  # a re-sent slice of the late day, amounts changed, before that day lands
            resent = days[first + 3].head(30).copy()
            resent["amount"] = "1.23"
            files.append(("resent.csv", resent))
    broken = files[-1][1].to_csv(index=False).splitlines(keepends=True)  # type: ignore[union-attr]
    broken[3] = broken[3].replace(",", ";", 2)
    files[-1] = (files[-1][0], "".join(broken).encode())
    # Last, another row of the quiet card on its latest second, with a smaller amount: its new
    # rows do not all follow its published state, whose recent pairs must not be carried over.
    same_second = quiet_late.assign(transaction_id="quiet-day-18-same-second", amount="0.50")
    files.append(("quiet_day18_same_second.csv", same_second))
    return files


def reference_rebuild(source: Path, target: Path, settings: Settings) -> None:
    """The full-refresh SQL over a copy of ``source``'s raw rows and rejected lines."""
    copy_raw(source, target, settings.raw_dataset)
    hook = BigQueryDialectDuckDBHook(database=str(target), snapshot_dir=settings.snapshot_dir)
    for sql in reference_sql(settings):
        hook.run(sql)


def table(path: Path, name: str) -> pd.DataFrame:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        frame = conn.execute(f"SELECT * FROM fraud.{name}").df()
    finally:
        conn.close()
    frame = frame.drop(columns=[c for c in ("rejected_at",) if c in frame.columns])
    return frame.sort_values(TABLES[name], na_position="first").reset_index(drop=True)


def assert_same_rows(incremental: pd.DataFrame, reference: pd.DataFrame, name: str) -> None:
    assert list(incremental.columns) == list(reference.columns), name
    assert len(incremental) == len(reference), name
    for column in reference.columns:
        a, b = incremental[column], reference[column]
        if pd.api.types.is_float_dtype(b) or pd.api.types.is_float_dtype(a):
            # bit for bit: sums of amounts are exact whatever order the windows add in (NaN == NaN)
            np.testing.assert_array_equal(a.astype(float), b.astype(float), err_msg=f"{name}.{column}")
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), f"{name}.{column}"


@pytest.fixture(scope="module")
def files() -> list[tuple[str, pd.DataFrame | bytes]]:
    return daily_files()


def test_incremental_runs_equal_a_full_refresh_of_the_same_history(
    gcs_hook, local_settings, files, tmp_path
) -> None:
    s = local_settings
    s.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    hook = BigQueryDialectDuckDBHook(database=str(s.warehouse_path), snapshot_dir=s.snapshot_dir)
    for run, (name, content) in enumerate(files):
        data = content if isinstance(content, bytes) else content.to_csv(index=False).encode()
        gcs_hook.upload(s.landing_bucket, s.landing_prefix + name, data=data)
        ingest_landed(gcs_hook, s, run_id=f"run{run}")
        transform(hook, s, run_id=f"run{run}")
    (duplicates,) = hook.get_records("SELECT COUNT(*) FROM fraud.ingestion_log WHERE status = 'duplicate'")[0]
    assert duplicates == 1
    reasons = dict(hook.get_records("SELECT reason, COUNT(*) FROM fraud.rejected_rows GROUP BY reason"))
    assert reasons == {"duplicate_transaction_id": 35, "bad_card_checksum": 1, "wrong_field_count": 1}

    before = {name: table(s.warehouse_path, name) for name in TABLES}
    bounds = transform(hook, s, run_id="rerun")  # nothing new: changes nothing
    assert bounds["files"] == "0"
    for name in TABLES:
        assert_same_rows(table(s.warehouse_path, name), before[name], f"rerun {name}")

    reference = tmp_path / "reference.duckdb"
    reference_rebuild(s.warehouse_path, reference, s)
    for name in TABLES:
        incremental, full = before[name], table(reference, name)
        assert len(full) > 0, name
        assert_same_rows(incremental, full, name)
    # the day counts the table-wide checks read: those of the full refresh's training table
    assert published_day_counts(hook) == day_counts_of(table(reference, "training_examples"))
