"""The gcp prediction-log path: the function's structured log lines, as the log sink lands them
in BigQuery (a partitioned table with a ``jsonPayload`` record), staged by 88 and appended by 83.
The sink's table is built here in the local warehouse with the same column layout, so the same
SQL is executed, not only rendered."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from fraud_mlops import targets
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.prediction_log.sinks import StructuredLogSink
from fraud_mlops.prediction_log.store import EARLIEST_INSTANT, SINK_TABLE, CloudPredictionLog
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import sql_instant
from tests.monitoring.log_sink import sink_table


def _rows(now: datetime) -> list[dict]:
    model = {"name": "fraud-detector", "version": "4", "deployed_model_id": "987"}
    return [
        records.record(request_id="a", source="online", status=200, logged_at=now, card_pseudonym="p1",
                       vector=[1.0] * len(FEATURE_NAMES), score=0.91, threshold=0.5, model=model, latency_ms=12.5),
        records.record(request_id="b", source="online", status=404, logged_at=now, latency_ms=3.0,
                       error="unknown_card"),
        records.record(request_id="a", source="shadow", status=200, logged_at=now, card_pseudonym="p1",
                       vector=[1.0] * len(FEATURE_NAMES), score=0.2, threshold=0.6, model={**model, "version": "5"}),
    ]  # fmt: skip


def test_structured_lines_are_what_the_sink_filter_selects() -> None:
    stream = io.StringIO()
    rows = _rows(datetime(2026, 12, 1, tzinfo=UTC))
    StructuredLogSink(stream)(rows)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["log_type"] for e in entries] == ["prediction_log"] * 3  # the sink's filter field
    assert all(e["severity"] == "INFO" for e in entries)
    assert [json.loads(e["record"]) for e in entries] == rows


def test_gcp_staging_reads_the_sink_table_and_the_append_is_the_local_one(
    local_settings: Settings, gcp_settings: Settings
) -> None:
    log = targets.prediction_log(gcp_settings)
    assert isinstance(log, CloudPredictionLog)
    assert log.log_dataset == f"{gcp_settings.project}.{gcp_settings.dataset}_logs"

    now = datetime.now(UTC)
    stream = io.StringIO()
    StructuredLogSink(stream)(_rows(now))
    old = {"log_type": "prediction_log", "record": json.dumps(records.record(
        request_id="old", source="online", status=200, logged_at=now - timedelta(days=5)))}  # fmt: skip
    entries = [(now, json.loads(line)) for line in stream.getvalue().splitlines()] + [
        (now - timedelta(days=5), old)
    ]
    entries.append((now, {"log_type": "other", "record": "{}"}))
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    sink_table(local_settings, entries)

    staging = CloudPredictionLog(local_settings.dataset, local_settings)
    assert staging.copy_since(warehouse) == EARLIEST_INSTANT  # nothing logged yet: all the sink kept
    assert staging.stage(warehouse) == -1
    append_staged(warehouse, local_settings)
    logged = warehouse.records(
        f"SELECT request_id, source, status, score, decision, model_version, error, latency_ms "
        f"FROM `{local_settings.dataset}.prediction_log` ORDER BY request_id, source"
    )
    assert [tuple(r) for r in logged] == [
        ("a", "online", 200, pytest.approx(0.91), "fraud", "4", None, pytest.approx(12.5)),
        ("a", "shadow", 200, pytest.approx(0.2), "legitimate", "5", None, None),
        ("b", "online", 404, None, None, None, "unknown_card", pytest.approx(3.0)),
        ("old", "online", 200, None, None, None, None, None),
    ]

    # the next copy starts 48 hours before the newest answer logged: the 5-day-old entry is not
    # read again, and the append adds nothing twice
    assert staging.copy_since(warehouse) == sql_instant(now - timedelta(hours=48))
    staging.stage(warehouse)
    staged = warehouse.records(f"SELECT request_id FROM `{local_settings.dataset}.{records.STAGING_TABLE}`")
    assert sorted(r[0] for r in staged) == ["a", "a", "b"]
    append_staged(warehouse, local_settings)
    assert warehouse.row_count("prediction_log") == 4


def test_after_an_outage_longer_than_the_overlap_no_routed_entry_is_lost(local_settings: Settings) -> None:
    """The last run logged an answer four days ago; the sink routed entries since. A fixed 48-hour
    look-back from now lost those of the days between; the copy starts from what was logged."""
    now = datetime.now(UTC)
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    logged_before = records.record(
        request_id="before", source="online", status=200, logged_at=now - timedelta(days=4)
    )
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([logged_before]))
    append_staged(warehouse, local_settings)
    during = records.record(
        request_id="during", source="online", status=200, logged_at=now - timedelta(days=3)
    )
    sink_table(
        local_settings,
        [(now - timedelta(days=3), {"log_type": "prediction_log", "record": json.dumps(during)})],
    )

    CloudPredictionLog(local_settings.dataset, local_settings).stage(warehouse)
    append_staged(warehouse, local_settings)

    ids = warehouse.records(f"SELECT request_id FROM `{local_settings.dataset}.prediction_log` ORDER BY 1")
    assert [r[0] for r in ids] == ["before", "during"]


def test_after_a_quiet_week_the_newest_answer_is_looked_for_in_every_day(local_settings: Settings) -> None:
    """The newest answer is looked for in the recent days first (a week of two narrow columns,
    not every day's); when they hold none (the endpoint unused, the DAG paused) in every day."""
    now = datetime.now(UTC)
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    for request_id, days_ago in (("older", 12), ("newest", 10)):
        logged = records.record(
            request_id=request_id, source="online", status=200, logged_at=now - timedelta(days=days_ago)
        )
        warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([logged]))
        append_staged(warehouse, local_settings)
    queries: list[str] = []

    class Recording:
        def table_exists(self, table_id: str) -> bool:
            return warehouse.table_exists(table_id)

        def records(self, sql: str) -> list:
            queries.append(sql)
            return warehouse.records(sql)

    log = CloudPredictionLog(local_settings.dataset, local_settings)
    since = log.copy_since(Recording(), now=now)  # type: ignore[arg-type]

    assert since == sql_instant(now - timedelta(days=10, hours=48))
    assert [q.split("WHERE ")[1].split(")")[0] for q in queries] == [
        f"logged_at >= TIMESTAMP('{sql_instant(now - timedelta(days=7))}'",  # none in the recent days
        f"logged_at >= TIMESTAMP('{EARLIEST_INSTANT}'",
    ]
    # an answer within the week: found by the first query alone
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([records.record(
        request_id="recent", source="online", status=200, logged_at=now - timedelta(days=6))]))  # fmt: skip
    append_staged(warehouse, local_settings)
    queries.clear()
    assert log.copy_since(Recording(), now=now) == sql_instant(now - timedelta(days=6, hours=48))  # type: ignore[arg-type]
    assert len(queries) == 1


def test_gcp_staging_sql_names_thesink_table(gcp_settings: Settings) -> None:
    executed: list[str] = []

    class Recorder:
        def table_exists(self, table_id: str) -> bool:
            return True

        def execute(self, sql: str, parameters: object = None) -> None:
            executed.append(sql)

        def records(self, sql: str) -> list[tuple[datetime]]:
            executed.append(sql)
            return [(datetime(2026, 12, 1, 12, tzinfo=UTC),)]

    targets.prediction_log(gcp_settings).stage(Recorder())  # type: ignore[arg-type]
    newest_sql, sql = executed
    project, dataset = gcp_settings.project, gcp_settings.dataset
    assert f"FROM `{project}.{dataset}.prediction_log`" in newest_sql
    since = datetime.fromisoformat(newest_sql.split("logged_at >= TIMESTAMP('")[1].split("'")[0])
    assert timedelta(days=7) <= datetime.now(UTC) - since < timedelta(days=7, minutes=5)  # the recent days
    assert f"CREATE OR REPLACE TABLE `{project}.{dataset}.prediction_log_staging`" in sql
    assert f"FROM `{project}.{dataset}_logs.run_googleapis_com_stdout`" in sql
    assert "WHERE timestamp >= TIMESTAMP('2026-11-29T12:00:00.000000Z')" in sql  # 48 h before the newest


def test_before_the_sink_routed_anything_staging_is_empty_and_batch_scores_still_append(
    local_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cloud Logging creates the sink's table with the first entry it routes: a fresh deploy
    whose function has not answered yet has none. The staging table is emptied instead of the
    run failing on a missing table, and the append runs."""
    warehouse = targets.warehouse(local_settings)
    local_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    warehouse.replace_table(
        records.STAGING_TABLE, records.to_arrow(_rows(datetime.now(UTC)))
    )  # a previous run's

    staging = CloudPredictionLog(local_settings.dataset, local_settings)
    assert staging.stage(warehouse) == 0
    assert f"{local_settings.dataset}.{SINK_TABLE} does not exist" in capsys.readouterr().out
    assert warehouse.row_count(records.STAGING_TABLE) == 0
    append_staged(warehouse, local_settings)
    assert warehouse.row_count("prediction_log") == 0

    # a log dataset that does not exist is a wrong setting, not an empty log
    with pytest.raises(LookupError, match="no dataset 'fraud_logs'"):
        CloudPredictionLog("fraud_logs", local_settings).stage(warehouse)
