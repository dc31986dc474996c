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
    """The record holds the card's pseudonym, as the sink's copies do, and for no longer: every
    append, also one with nothing incoming, drops the records older than the sink's partitions of
    their erasure's day (log_retention_days after the day's start)."""
    warehouse = targets.warehouse(local_settings)
    cards = {"kept": CARD, "expired": OTHER, "long expired": "5555555555554444"}
    for card in cards.values():
        _erase(local_settings, card)
    table = f"`{local_settings.dataset}.card_erasures`"
    retention = timedelta(days=local_settings.log_retention_days)
    now = datetime.now(UTC)
    for name, age in (
        ("kept", retention + timedelta(hours=23)),  # its day's sink partition may still be kept
        ("expired", retention + timedelta(days=1, minutes=5)),
        ("long expired", retention * 3),
    ):
        warehouse.execute(
            f"UPDATE {table} SET erased_at = TIMESTAMP('{sql_instant(now - age)}') "
            f"WHERE card_pseudonym = '{pseudonymise(cards[name])}'"
        )
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([]))

    assert append_staged(warehouse, local_settings) is None  # nothing incoming

    assert [r[0] for r in warehouse.records(f"SELECT card_pseudonym FROM {table}")] == [pseudonymise(CARD)]


def test_a_batch_run_that_read_the_cards_features_before_the_erasure_writes_no_score_for_it(
    local_settings: Settings, pseudonymise: Any
) -> None:
    """The erasure drops batch scoring's input and output (every card's features and scores, kept
    until the next run); a batch prediction in flight that had read the card writes its output
    after, and 80 leaves the card out. A card's score from features newer than its erasure (it
    was used again) is kept."""
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(render_sql(SQL_FILES["setup"], local_settings))
    dataset = local_settings.dataset
    read_at = datetime.now(UTC) - timedelta(minutes=5)

    def batch_output(rows: list[tuple[str, datetime]]) -> None:
        answer = '{"fraud_probability": 0.9, "decision": "fraud", "threshold": 0.5, "model_name": "m", "model_version": "1"}'
        rows_sql = " UNION ALL ".join(
            f"SELECT '{pseudonym}' AS card_pseudonym, {int(at.timestamp() * 1_000_000)} AS feature_time_us, "
            f"'{answer}' AS prediction"
            for pseudonym, at in rows
        )
        warehouse.execute(f"CREATE OR REPLACE TABLE `{dataset}.batch_prediction_output` AS {rows_sql}")

    warehouse.execute(
        f"CREATE TABLE `{dataset}.batch_prediction_input` AS SELECT '{pseudonymise(CARD)}' AS card_pseudonym"
    )
    batch_output([(pseudonymise(CARD), read_at)])
    _erase(local_settings, CARD)
    for table in ("batch_prediction_input", "batch_prediction_output"):
        assert not warehouse.table_exists(f"{dataset}.{table}")

    batch_output(
        [(pseudonymise(CARD), read_at), (pseudonymise(OTHER), read_at)]
    )  # written by the job in flight
    warehouse.execute(
        render_sql(SQL_FILES["card_predictions"], local_settings),
        {"run_id": "scoring", "model_version": "1", "run_after": sql_instant(read_at - timedelta(minutes=1))},
    )
    scored = f"SELECT card_pseudonym FROM `{dataset}.card_predictions`"
    assert [r[0] for r in warehouse.records(scored)] == [pseudonymise(OTHER)]

    batch_output([(pseudonymise(CARD), datetime.now(UTC) + timedelta(seconds=1))])  # used again since
    warehouse.execute(
        render_sql(SQL_FILES["card_predictions"], local_settings),
        {"run_id": "later", "model_version": "1", "run_after": sql_instant(datetime.now(UTC))},
    )
    assert sorted(r[0] for r in warehouse.records(scored)) == sorted(
        [pseudonymise(CARD), pseudonymise(OTHER)]
    )
