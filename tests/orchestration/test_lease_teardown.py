"""``release_transform_lease``, the teardown of every ingestion and erasure run: before it gives
the lease back it drops the per-file load tables left (a failed run's own loads), but only while
its run holds the lease, and it gives the lease back even when that drop fails.

The task's callable as the DAG builder makes it, on the real local warehouse (DuckDB) with the
lease's real row; the run is the part of Airflow's context the task reads.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from fraud_mlops import targets
from fraud_mlops.ingestion.transform_lease import Holder, claim, holder
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

LEFTOVER = "raw_load_0123456789abcdef_01234567"
ME = Holder("fraud_ingest_daily", "scheduled__2026-12-06T00:00:00+00:00")


def _teardown(settings: Settings) -> Any:
    from airflow.sdk import DAG

    from fraud_mlops.orchestration.lease import acquire_transform_lease, release_transform_lease

    with DAG("lease_teardown", schedule=None) as dag:
        release_transform_lease(settings, acquire_transform_lease(settings))
    return dag.get_task("release_transform_lease").python_callable


def _leftover_exists(warehouse: DuckDBWarehouse, settings: Settings) -> bool:
    with duckdb.connect(str(warehouse.path), read_only=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [settings.raw_dataset, LEFTOVER],
        ).fetchone()
    return bool(found and found[0])


@pytest.fixture
def held_with_leftover(local_settings: Settings) -> DuckDBWarehouse:
    warehouse = targets.warehouse(local_settings)
    assert isinstance(warehouse, DuckDBWarehouse)
    warehouse.execute(render_sql(SQL_FILES["setup"], local_settings))
    warehouse.execute(
        f"CREATE TABLE {local_settings.raw_dataset}.{LEFTOVER} AS SELECT '4111111111111111' AS c"
    )
    return warehouse


def _run(settings: Settings, who: Holder) -> None:
    _teardown(settings)(dag_run=SimpleNamespace(dag_id=who.dag_id, run_id=who.run_id))


def test_the_holders_teardown_drops_the_leftovers_then_gives_the_lease_back(
    held_with_leftover: DuckDBWarehouse, local_settings: Settings
) -> None:
    assert claim(held_with_leftover, local_settings, ME, is_active=lambda h: True) is None
    _run(local_settings, ME)
    assert not _leftover_exists(held_with_leftover, local_settings)
    assert holder(held_with_leftover, local_settings) is None


def test_a_teardown_whose_run_does_not_hold_the_lease_drops_nothing(
    held_with_leftover: DuckDBWarehouse, local_settings: Settings
) -> None:
    """A teardown cleared alone while another run holds the lease and loads: that run's load
    tables stay, and so does its lease."""
    other = Holder("fraud_ingest_events", "manual__2026-12-06T01:00:00+00:00")
    assert claim(held_with_leftover, local_settings, other, is_active=lambda h: True) is None
    _run(local_settings, ME)
    assert _leftover_exists(held_with_leftover, local_settings)
    assert other.same_run(holder(held_with_leftover, local_settings))


def test_a_failed_drop_is_logged_and_the_lease_still_goes_back(
    held_with_leftover: DuckDBWarehouse, local_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    def unavailable(self: DuckDBWarehouse) -> list[str]:
        raise RuntimeError("the warehouse did not answer")

    assert claim(held_with_leftover, local_settings, ME, is_active=lambda h: True) is None
    monkeypatch.setattr(DuckDBWarehouse, "drop_leftover_load_tables", unavailable)
    _run(local_settings, ME)
    assert holder(held_with_leftover, local_settings) is None
    assert "could not drop the per-file load tables left" in caplog.text
    assert "the warehouse did not answer" in caplog.text
