"""The run summary as the DAG logs it and ``make demo`` prints it."""

from __future__ import annotations

from fraud_mlops.orchestration.run_summary import COUNT_COLUMNS, format_summary


def summary(fraud_count: int | None) -> dict:
    return {
        "dag_id": "fraud_ingest_sensor",
        "run_id": "manual__1",
        "target": "local",
        "counts": dict.fromkeys(COUNT_COLUMNS, 1200),
        "rejects_by_reason": {"bad_amount": 2},
        "snapshot": {
            "snapshot_name": "training_snapshot_x",
            "row_count": 1200,
            "fraud_count": fraud_count,
            "source_files": ["a.csv"],
            "run_id": "manual__1",
            "expires_at": "2027-03-04",
        },
    }


def test_the_snapshot_line_gives_its_frauds_or_says_they_are_unknown() -> None:
    assert "snapshot training_snapshot_x: 1,200 rows, 12 fraud, expires 2027-03-04" in format_summary(
        summary(12)
    )
    # the lineage's fraud count is NULL when another run published while the snapshot was taken
    assert "1,200 rows, unknown fraud" in format_summary(summary(None))


def test_a_snapshots_source_files_in_xcom_and_the_summary_are_bounded() -> None:
    """The training table holds every file ever loaded: the lineage row's list grows with history
    (snapshot_lineage keeps it whole); what goes to XCom and the log names a few and counts all."""
    from fraud_mlops.orchestration.run_summary import SOURCE_FILES_SHOWN, bounded_source_files

    files = [f"gs://fraud-landing/incoming/day{i}.csv" for i in range(1, 1001)]
    row = bounded_source_files({"snapshot_name": "training_snapshot_x", "source_files": files})
    assert row["source_files"] == files[:SOURCE_FILES_SHOWN] and row["source_file_count"] == 1000
    lines = format_summary({**summary(12), "snapshot": {**summary(12)["snapshot"], **row}})
    assert f"and {1000 - SOURCE_FILES_SHOWN:,} more (all in snapshot_lineage)" in lines
    assert "day21.csv" not in lines


def test_a_file_moved_once_is_listed_once() -> None:
    """A cleared run's validation reports the file its earlier attempt's load refused, whose
    XCom that load still holds: the summary lists it once."""
    from fraud_mlops.orchestration.run_summary import each_moved_once

    refused = {
        "file": "incoming/a.csv",
        "reason": "load_refused",
        "detail": "d",
        "moved_to": "gs://q/quarantine/x/1/a.csv",
    }
    empty = {
        "file": "incoming/b.csv",
        "reason": "empty_file",
        "detail": "e",
        "moved_to": "gs://q/quarantine/x/2/b.csv",
    }
    # the first entry of a move is kept (a retried validation's own, before the run's earlier ones)
    assert each_moved_once([refused, empty, {**refused, "file": "a.csv"}]) == [refused, empty]
