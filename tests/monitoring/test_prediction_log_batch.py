"""Batch scores reach the prediction log once per scoring run (and model version), through the
same append as the online answers, on the real local warehouse.

card_predictions keeps every scoring run (80_card_predictions.sql replaces only its own run's
rows), so the append must not take every run as incoming: its look for repeats would then reach
back to the first batch run ever, on every hourly run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devtools.bigquery_bytes import BytesMeter, metering, partitioning
from fraud_mlops import targets
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import REPEAT_WINDOW, SCORING_MARGIN, append_staged
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import EARLIEST_INSTANT, render_sql, sql_instant
from fraud_mlops.warehouse.base import Warehouse, timestamp_utc

NOW = datetime.now(UTC).replace(microsecond=0)
CARDS = 3


def _score(
    warehouse: Warehouse,
    settings: Settings,
    run_id: str,
    scored_at: datetime,
    version: str,
    cards: int = CARDS,
) -> None:
    """A scoring run's rows as 80_card_predictions.sql leaves them: a rerun replaces its rows, with
    the same prediction ids and a new scored_at."""
    table = f"`{settings.dataset}.card_predictions`"
    warehouse.execute(f"DELETE FROM {table} WHERE scoring_run_id = '{run_id}'")
    values = ", ".join(
        f"('{run_id}-{card}', '{run_id}', 'card{card}', 0.1, 'legitimate', 0.5, 'fraud-detector', '{version}',"
        f" TIMESTAMP('{sql_instant(scored_at)}'), TIMESTAMP('{sql_instant(scored_at)}'))"
        for card in range(cards)
    )
    warehouse.execute(
        f"INSERT INTO {table} (prediction_id, scoring_run_id, card_pseudonym, score, decision, threshold,"
        f" model_name, model_version, feature_timestamp, scored_at) VALUES {values}"
    )


def _stage(warehouse: Warehouse, request_id: str, at: datetime) -> None:
    row = records.record(request_id=request_id, source=records.ONLINE, status=200, logged_at=at)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([row]))


def _batch_rows(warehouse: Warehouse, settings: Settings) -> list[tuple[str, str]]:
    rows = warehouse.records(
        f"SELECT request_id, model_version FROM `{settings.dataset}.prediction_log` WHERE source = 'batch'"
        " ORDER BY 1, 2"
    )
    return [(r[0], r[1]) for r in rows]


def test_a_scoring_run_is_logged_once_and_then_no_longer_bounds_the_append(local_settings: Settings) -> None:
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    old_run = NOW - timedelta(days=10)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([]))
    append_staged(warehouse, local_settings)  # creates the tables; nothing to append yet
    _score(warehouse, local_settings, "r1", old_run, version="1")

    # the run's rows are the incoming ones: logged, the look for repeats from a day before them
    assert append_staged(warehouse, local_settings) == sql_instant(old_run - REPEAT_WINDOW)
    assert _batch_rows(warehouse, local_settings) == [(f"r1-{c}", "1") for c in range(CARDS)]

    # an hour's online answer later: the logged run no longer counts as incoming
    _stage(warehouse, "online-1", NOW - timedelta(hours=1))
    assert append_staged(warehouse, local_settings) == sql_instant(NOW - timedelta(hours=1) - REPEAT_WINDOW)

    # the run rerun, scoring a card more (its cards' prediction ids kept, a new scored_at): the
    # new card is logged, the others are repeats, looked for where the run was first logged
    _score(warehouse, local_settings, "r1", NOW, version="1", cards=CARDS + 1)
    _stage(warehouse, "online-2", NOW - timedelta(minutes=30))
    assert append_staged(warehouse, local_settings) == sql_instant(old_run - REPEAT_WINDOW)
    assert _batch_rows(warehouse, local_settings) == [(f"r1-{c}", "1") for c in range(CARDS + 1)]
    # and once logged, the rerun no longer bounds the append
    _stage(warehouse, "online-3", NOW - timedelta(minutes=10))
    assert append_staged(warehouse, local_settings) == sql_instant(
        NOW - timedelta(minutes=10) - REPEAT_WINDOW
    )

    # rerun by another model version: those are other answers, logged
    _score(warehouse, local_settings, "r1", NOW, version="2")
    append_staged(warehouse, local_settings)
    assert _batch_rows(warehouse, local_settings) == sorted(
        [(f"r1-{c}", "1") for c in range(CARDS + 1)] + [(f"r1-{c}", "2") for c in range(CARDS)]
    )
    logged = warehouse.row_count("prediction_log")
    append_staged(warehouse, local_settings)  # a retried append adds nothing
    assert warehouse.row_count("prediction_log") == logged == (CARDS + 1) + CARDS + 3
    runs = warehouse.records(
        f"SELECT scoring_run_id, model_version, scored_at FROM `{local_settings.dataset}.prediction_log_batch_runs`"
        " ORDER BY 2, 3"
    )
    assert [(r[0], r[1], timestamp_utc(r[2])) for r in runs] == [
        ("r1", "1", old_run), ("r1", "1", NOW), ("r1", "2", NOW),
    ]  # fmt: skip


def test_the_append_reads_only_the_days_since_it_last_logged_a_scoring_run(local_settings: Settings) -> None:
    """A month of daily scoring runs, each logged by the append of its day: the next append
    reads card_predictions from a day before the last of those appends (its plan, sized by
    BigQuery's rules), not every run's days, and logs the new run alone."""
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([]))
    append_staged(warehouse, local_settings)  # the tables
    first = NOW - timedelta(days=30)
    for day in range(30):
        scored = first + timedelta(days=day)
        _score(warehouse, local_settings, f"day{day}", scored, version="1")
        warehouse.execute(
            f"INSERT INTO `{local_settings.dataset}.prediction_log_batch_runs` VALUES ('day{day}', '1',"
            f" TIMESTAMP('{sql_instant(scored)}'), TIMESTAMP('{sql_instant(scored + timedelta(hours=1))}'))"
        )  # as that day's append recorded it (its rows are not needed here)
    _score(warehouse, local_settings, "today", NOW, version="1")
    # scored before the last append began, committed after it: still among the days read
    _score(warehouse, local_settings, "late", first + timedelta(days=29, minutes=50), version="1")

    meter = BytesMeter(
        partitioning(
            render_sql("97_prediction_log_incoming.sql", local_settings, batch_from=EARLIEST_INSTANT)
        )
    )
    with metering(meter):
        append_staged(warehouse, local_settings)

    last_append = first + timedelta(days=29, hours=1)
    reads = [r for s in meter.statements for r in s.reads if r.table.endswith("card_predictions")]
    assert len(reads) == 3  # 97's earliest row, 83's MERGE and its record of the runs logged
    assert {r.days[0].date() if r.days else None for r in reads} == {(last_append - SCORING_MARGIN).date()}
    assert _batch_rows(warehouse, local_settings) == sorted(
        [(f"late-{c}", "1") for c in range(CARDS)] + [(f"today-{c}", "1") for c in range(CARDS)]
    )


def test_a_rerun_committed_while_the_append_runs_waits_for_the_next(local_settings: Settings) -> None:
    """On gcp a cleared scoring run may commit between the append's 97 (which found where its
    repeats lie) and its 83: the rerun's rows wait for the next append rather than being merged
    against a look for repeats that misses the run's first logged copies (they were logged twice)."""
    warehouse = targets.warehouse(local_settings)
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS `{local_settings.dataset}`")
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow([]))
    append_staged(warehouse, local_settings)
    _score(warehouse, local_settings, "r1", NOW - timedelta(days=10), version="1")
    append_staged(warehouse, local_settings)
    _stage(warehouse, "online-1", NOW - timedelta(hours=1))

    class RerunAfter97:
        """The warehouse, with the rerun committing just after 97 answers."""

        def __getattr__(self, name: str) -> object:
            return getattr(warehouse, name)

        def records(self, sql: str, parameters: object = None) -> list:
            rows = warehouse.records(sql)
            if "SELECT MIN(logged_at) AS earliest" in sql:
                _score(warehouse, local_settings, "r1", NOW, version="1", cards=CARDS + 1)
            return rows

    append_staged(RerunAfter97(), local_settings)  # type: ignore[arg-type]
    assert _batch_rows(warehouse, local_settings) == [(f"r1-{c}", "1") for c in range(CARDS)]
    append_staged(warehouse, local_settings)  # the next hour: the new card alone
    assert _batch_rows(warehouse, local_settings) == [(f"r1-{c}", "1") for c in range(CARDS + 1)]
