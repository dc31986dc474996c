"""The transform lease on the real local warehouse (DuckDB running include/sql/12-14, the SQL
BigQuery runs): one run holds it from its file listing to its sync, whichever DAG, or an erasure."""

from __future__ import annotations

import pytest

from fraud_mlops.ingestion.transform_lease import Holder, claim, holder, release
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

SENSOR = Holder("fraud_ingest_sensor", "scheduled__2026-12-05T10:00:00+00:00")
DAILY = Holder("fraud_ingest_daily", "scheduled__2026-12-05T03:00:00+00:00")


@pytest.fixture
def warehouse(local_settings: Settings) -> DuckDBWarehouse:
    local_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBWarehouse(local_settings, local_settings.warehouse_path)
    warehouse.execute(render_sql(SQL_FILES["setup"], local_settings))
    return warehouse


def _active(*runs: Holder) -> object:
    return lambda h: any(h.same_run(r) for r in runs)


def test_a_second_run_waits_until_the_first_gives_the_lease_back(
    warehouse: DuckDBWarehouse, local_settings: Settings
) -> None:
    assert holder(warehouse, local_settings) is None  # seeded free
    assert claim(warehouse, local_settings, SENSOR, _active(SENSOR, DAILY)) is None  # claimed
    held = holder(warehouse, local_settings)
    assert SENSOR.same_run(held) and held is not None and held.claimed_at is not None

    # the daily run, while the sensor run is still running: told who holds it, nothing changed
    assert SENSOR.same_run(claim(warehouse, local_settings, DAILY, _active(SENSOR, DAILY)))
    assert SENSOR.same_run(holder(warehouse, local_settings))
    # giving back what it does not hold changes nothing either
    release(warehouse, local_settings, DAILY)
    assert SENSOR.same_run(holder(warehouse, local_settings))

    # a retry or rerun of the holder claims again without waiting for itself
    assert claim(warehouse, local_settings, SENSOR, _active(SENSOR, DAILY)) is None

    release(warehouse, local_settings, SENSOR)
    assert holder(warehouse, local_settings) is None
    assert claim(warehouse, local_settings, DAILY, _active(SENSOR, DAILY)) is None
    assert DAILY.same_run(holder(warehouse, local_settings))


def test_a_holder_no_longer_running_is_taken_over(
    warehouse: DuckDBWarehouse, local_settings: Settings
) -> None:
    """A run killed before its teardown gave the lease back (marked failed by hand, say)."""
    claim(warehouse, local_settings, SENSOR, _active(SENSOR))
    assert claim(warehouse, local_settings, DAILY, _active(DAILY)) is None
    assert DAILY.same_run(holder(warehouse, local_settings))


def test_a_claim_against_a_stale_holder_loses_to_a_run_that_took_it_first(
    warehouse: DuckDBWarehouse, local_settings: Settings
) -> None:
    """Two runs find the same dead holder; the first takes over, the second's UPDATE names the
    dead holder, matches nothing, and it reads the winner back."""
    claim(warehouse, local_settings, SENSOR, _active(SENSOR))
    dead = holder(warehouse, local_settings)
    assert dead is not None
    assert claim(warehouse, local_settings, DAILY, _active(DAILY)) is None  # DAILY took over
    events = Holder("fraud_ingest_events", "asset_triggered__2026-12-05T10:01:00+00:00")
    # the events run saw SENSOR, dead, before DAILY's claim: its UPDATE names SENSOR as stale
    warehouse.execute(
        render_sql(SQL_FILES["lease_acquire"], local_settings),
        parameters={"dag_id": events.dag_id, "run_id": events.run_id,
                    "stale_dag_id": dead.dag_id, "stale_run_id": dead.run_id},
    )  # fmt: skip
    assert DAILY.same_run(holder(warehouse, local_settings))


def test_setup_seeds_one_free_row_once(warehouse: DuckDBWarehouse, local_settings: Settings) -> None:
    claim(warehouse, local_settings, SENSOR, _active(SENSOR))
    warehouse.execute(render_sql(SQL_FILES["setup"], local_settings))  # every run starts with setup
    rows = warehouse.records(
        f"SELECT name, holder_run_id FROM `{local_settings.dataset_ref}.transform_lease`"
    )
    assert rows == [("transform", SENSOR.run_id)]


def test_a_missing_lease_row_is_an_error_that_names_the_seed(
    warehouse: DuckDBWarehouse, local_settings: Settings
) -> None:
    """Not a free lease: a run must not transform unguarded because the row was deleted."""
    warehouse.execute(f"DELETE FROM `{local_settings.dataset_ref}.transform_lease` WHERE TRUE")
    with pytest.raises(RuntimeError, match=r"transform lease row is missing .* \(00_setup.sql seeds it"):
        claim(warehouse, local_settings, SENSOR, _active(SENSOR))


def test_the_erasure_commands_lease_is_held_against_dag_runs_for_an_hour(
    warehouse: DuckDBWarehouse, local_settings: Settings
) -> None:
    """``make erase-card`` is no DAG: Airflow counts no run of it, so a DAG run's claim took its
    lease over at its next poke, between the command's delete and its file rewrite. A DAG run's
    claim now leaves it for COMMAND_LEASE_MAX_AGE (then the command was killed)."""
    from datetime import UTC, timedelta

    from fraud_mlops.ingestion.transform_lease import COMMAND_HOLDER, COMMAND_LEASE_MAX_AGE, holder_is_active

    command = Holder(COMMAND_HOLDER, "pid-4242")
    assert claim(warehouse, local_settings, command, _active()) is None
    no_runs = lambda h: 0  # noqa: E731 - what Airflow counts for a DAG id it does not know
    is_active = lambda h: holder_is_active(h, no_runs)  # noqa: E731 - the acquire sensor's test
    held = claim(warehouse, local_settings, SENSOR, is_active)
    assert held is not None and held.same_run(command)  # the sensor run waits

    claimed = held.claimed_at
    later = (claimed if claimed.tzinfo else claimed.replace(tzinfo=UTC)) + COMMAND_LEASE_MAX_AGE
    assert holder_is_active(held, no_runs, now=later - timedelta(seconds=1))
    assert not holder_is_active(held, no_runs, now=later)  # a killed command's lease is taken over
    assert holder_is_active(SENSOR, lambda h: 1) and not holder_is_active(SENSOR, no_runs)
