"""An erased card's answers stay erased from the prediction log.

The erasure (96) deletes the card's logged answers, but the log's sources keep what the function
logged before it: the spool files not appended yet (local), and the log sink's table, which the
hourly copy re-reads from 48 hours before the newest answer logged (gcp; the sink keeps entries
``log_retention_days``). Without the erasure's record the next append logged them again. Real
local warehouse, the real 96, 88 and 83; the sink's table is built as Cloud Logging lays it out.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fraud_mlops import targets
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.prediction_log.sinks import SpoolSink
from fraud_mlops.prediction_log.store import CloudPredictionLog, LocalPredictionLog
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql, sql_instant
from tests.monitoring.log_sink import sink_table

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
    sink_table(local_settings, [_sink_entry(row) for row in before])
    sink = CloudPredictionLog(local_settings.dataset, local_settings)
    sink.stage(warehouse)
    append_staged(warehouse, local_settings)
    assert _logged(local_settings) == ["card-before", "other-before"]

    _erase(local_settings, CARD)
    assert _logged(local_settings) == ["other-before"]
    after = _answer("card-after", pseudonymise(CARD), datetime.now(UTC) + timedelta(seconds=1))
    warehouse.execute(f"DROP TABLE `{local_settings.dataset}.run_googleapis_com_stdout`")
    sink_table(local_settings, [_sink_entry(row) for row in [*before, after]])
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


def test_an_erasures_record_is_kept_while_the_sink_may_keep_the_cards_entries(
    local_settings: Settings, pseudonymise: Any
) -> None:
    """The record holds the card's pseudonym, as the sink's copies do, and one to two days
    longer: every append, also one with nothing incoming, drops the records erased more than
    log_retention_days + 1 days ago (the sink's partition of the erasure's day has expired,
    log_retention_days after the day's start)."""
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


def test_a_batch_run_in_flight_during_an_erasure_writes_no_score_for_the_card_and_succeeds(
    local_settings: Settings, pseudonymise: Any
) -> None:
    """Batch scoring keeps every card's features (its input) and scores (its output) until the next
    run: the erasure deletes the card from the input and drops the output. A batch prediction in
    flight may have read the card before and write its output after: 80 leaves out a card erased
    during the run (from an hour before its run_after), and 82 does not count it among the cards
    given, so the run succeeds. A later run scores the card again once it is ingested again,
    whatever its transactions' times (a late file)."""
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(render_sql(SQL_FILES["setup"], local_settings))
    dataset = local_settings.dataset
    event_time = datetime(2026, 10, 1, tzinfo=UTC)  # the cards' latest transactions: long ago

    def batch_input(pseudonyms: list[str]) -> None:  # 81's columns that 96 and 82 read
        rows_sql = " UNION ALL ".join(f"SELECT '{p}' AS card_pseudonym" for p in pseudonyms)
        warehouse.execute(f"CREATE OR REPLACE TABLE `{dataset}.batch_prediction_input` AS {rows_sql}")

    def batch_output(pseudonyms: list[str]) -> None:  # as the batch prediction writes it
        answer = '{"fraud_probability": 0.9, "decision": "fraud", "threshold": 0.5, "model_name": "m", "model_version": "1"}'
        rows_sql = " UNION ALL ".join(
            f"SELECT '{p}' AS card_pseudonym, {int(event_time.timestamp() * 1_000_000)} AS feature_time_us, "
            f"'{answer}' AS prediction"
            for p in pseudonyms
        )
        warehouse.execute(f"CREATE OR REPLACE TABLE `{dataset}.batch_prediction_output` AS {rows_sql}")

    def score(run_id: str, run_after: datetime) -> tuple[int, int]:
        values = {"run_id": run_id, "model_version": "1", "run_after": sql_instant(run_after)}
        warehouse.execute(render_sql(SQL_FILES["card_predictions"], local_settings), values)
        ((written, _, _, _, given),) = warehouse.records(
            render_sql(SQL_FILES["batch_scoring_summary"], local_settings), values
        )
        return written, given

    card, other = pseudonymise(CARD), pseudonymise(OTHER)
    began = datetime.now(UTC) - timedelta(minutes=5)
    batch_input([card, other])
    batch_output([card, other])
    _erase(local_settings, CARD)
    erased = datetime.now(UTC)
    rows = warehouse.records(f"SELECT card_pseudonym FROM `{dataset}.batch_prediction_input`")
    assert [r[0] for r in rows] == [other]
    assert not warehouse.table_exists(f"{dataset}.batch_prediction_output")

    batch_output([card, other])  # written by the batch prediction in flight, which read both
    assert score("1 in flight", began) == (1, 1)  # the summary's check passes: every card given scored
    # an erasure that began before the run's run_after and committed after its input read the card
    batch_input([card, other])
    batch_output([card, other])
    assert score("2 erasure committed late", erased + timedelta(minutes=10)) == (1, 1)
    # the card ingested again after the erasure, before the run read it: left out, and not counted
    assert score("3 ingested again meanwhile", began) == (1, 1)
    scored = f"SELECT card_pseudonym FROM `{dataset}.card_predictions` ORDER BY scoring_run_id"
    assert [r[0] for r in warehouse.records(scored)] == [other] * 3

    batch_input([card])  # ingested again since (a late file: old transactions)
    batch_output([card])
    assert score("4 later", erased + timedelta(hours=1, minutes=1)) == (1, 1)
    assert [r[0] for r in warehouse.records(scored)] == [other] * 3 + [card]


def test_spool_files_the_append_read_are_deleted_a_day_later(
    local_settings: Settings, pseudonymise: Any
) -> None:
    """Locally the appended spool files are kept a day for inspection: they hold every answer's
    pseudonym and features, an erased card's too, and were never deleted."""
    log = targets.prediction_log(local_settings)
    assert isinstance(log, LocalPredictionLog)
    warehouse = targets.warehouse(local_settings)
    loaded = log.root / "loaded"

    def append(request_id: str) -> Path:
        SpoolSink(log.spool_dir)([_answer(request_id, pseudonymise(CARD), datetime.now(UTC))])
        before = set(loaded.glob("*.jsonl"))
        log.stage(warehouse)
        log.staged()
        (new,) = set(loaded.glob("*.jsonl")) - before
        return new

    def age(path: Path, hours: float) -> None:
        then = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
        os.utime(path, (then, then))

    first = append("first")
    age(first, 23)
    second = append("second")
    assert first.exists()  # within its day
    age(first, 25)
    age(second, 23)
    append("third")
    assert not first.exists()
    assert second.exists()
