"""An erased card's answers stay erased from the prediction log.

The erasure (96) deletes the card's logged answers, but the log's sources keep what the function
logged before it: the spool files not appended yet (local), and the log sink's table, which the
hourly copy re-reads from 48 hours before the newest answer logged (gcp; the sink keeps entries
``log_retention_days``). Without the erasure's record the next append logged them again. Real
local warehouse, the real 96, 88 and 83; the sink's table is built as Cloud Logging lays it out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud_mlops import targets
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.prediction_log.sinks import SpoolSink
from fraud_mlops.prediction_log.store import CloudPredictionLog, LocalPredictionLog
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql, sql_instant
from tests.monitoring.test_prediction_log_gcp import _sink_table

CARD, OTHER = "4111111111111111", "4242424242424242"


def _answer(request_id: str, pseudonym: str, at: datetime) -> dict[str, Any]:
    return records.record(
        request_id=request_id, source="online", status=200, logged_at=at, card_pseudonym=pseudonym
    )


def _sink_entry(row: dict[str, Any]) -> tuple[datetime, dict[str, str]]:
    routed_at = datetime.fromisoformat(row["logged_at"])
    return routed_at, {"log_type": "prediction_log", "record": json.dumps(row)}


def _erase(settings: Settings, card: str) -> None:
    warehouse = targets.warehouse(settings)
    warehouse.execute(render_sql(SQL_FILES["setup"], settings))  # the tables the erasure empties
    warehouse.execute(render_sql(SQL_FILES["erase_card"], settings), {"card_number": card})


def _logged(settings: Settings) -> list[str]:
    rows = targets.warehouse(settings).records(
        f"SELECT request_id FROM `{settings.dataset}.prediction_log` ORDER BY request_id"
    )
    return [r[0] for r in rows]


def test_the_sink_copy_after_an_erasure_does_not_log_the_cards_answers_again(
    local_settings: Settings, pseudonymise: Any
) -> None:
    """gcp: the copy after the erasure starts 48 hours before the newest answer still logged, so
    it reads the card's answers of those hours again; they are not logged again. An answer the
    function gave after the erasure (the gcp online store still holds the card until its view is
    recreated: docs/least_privilege.md) is a new answer, and is logged."""
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    now = datetime.now(UTC)
    before = [
        _answer("card-before", pseudonymise(CARD), now - timedelta(hours=2)),
        _answer("other-before", pseudonymise(OTHER), now - timedelta(hours=1)),
    ]
    _sink_table(local_settings, [_sink_entry(row) for row in before])
    sink = CloudPredictionLog(local_settings.dataset, local_settings)
    sink.stage(warehouse)
    append_staged(warehouse, local_settings)
    assert _logged(local_settings) == ["card-before", "other-before"]

    _erase(local_settings, CARD)
    assert _logged(local_settings) == ["other-before"]
    after = _answer("card-after", pseudonymise(CARD), datetime.now(UTC) + timedelta(seconds=1))
    warehouse.execute(f"DROP TABLE `{local_settings.dataset}.run_googleapis_com_stdout`")
    _sink_table(local_settings, [_sink_entry(row) for row in [*before, after]])
    assert sink.copy_since(warehouse) < sql_instant(now - timedelta(hours=2))  # the copy re-reads it
    sink.stage(warehouse)
    append_staged(warehouse, local_settings)

    assert _logged(local_settings) == ["card-after", "other-before"]


def test_answers_spooled_before_an_erasure_and_appended_after_it_are_not_logged(
    local_settings: Settings, pseudonymise: Any
) -> None:
    """local: the function's spool holds answers until the hourly append claims them."""
    log = targets.prediction_log(local_settings)
    assert isinstance(log, LocalPredictionLog)
    now = datetime.now(UTC)
    SpoolSink(log.spool_dir)(
        [_answer("card", pseudonymise(CARD), now), _answer("other", pseudonymise(OTHER), now)]
    )

    _erase(local_settings, CARD)
    warehouse = targets.warehouse(local_settings)
    log.stage(warehouse)
    append_staged(warehouse, local_settings)
    log.staged()

    assert _logged(local_settings) == ["other"]


def test_an_erasures_record_is_kept_as_long_as_the_sink_keeps_entries(
    local_settings: Settings, pseudonymise: Any
) -> None:
    """The record holds the card's pseudonym, as the sink's copies do, and for no longer: the
    append drops a record once the sink's partitions of the days before it have expired."""
    warehouse = targets.warehouse(local_settings)
    _erase(local_settings, CARD)
    _erase(local_settings, OTHER)
    table = f"`{local_settings.dataset}.card_erasures`"
    assert sorted(r[0] for r in warehouse.records(f"SELECT card_pseudonym FROM {table}")) == sorted(
        [pseudonymise(CARD), pseudonymise(OTHER)]
    )
    expired = datetime.now(UTC) - timedelta(days=local_settings.log_retention_days + 2)
    warehouse.execute(
        f"UPDATE {table} SET erased_at = TIMESTAMP('{expired.isoformat()}') "
        f"WHERE card_pseudonym = '{pseudonymise(OTHER)}'"
    )
    warehouse.replace_table(
        records.STAGING_TABLE,
        records.to_arrow([_answer("x", pseudonymise(OTHER), expired - timedelta(hours=1))]),
    )

    append_staged(warehouse, local_settings)

    assert [r[0] for r in warehouse.records(f"SELECT card_pseudonym FROM {table}")] == [pseudonymise(CARD)]
    assert _logged(local_settings) == ["x"]  # no longer held back: no source keeps such an entry now
