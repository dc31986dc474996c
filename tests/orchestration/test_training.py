"""The training DAG's builders: which snapshot a run trains on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fraud_mlops.orchestration.training import snapshot_from_events


def test_triggering_snapshot_is_the_newest_event_with_a_name() -> None:
    events = {
        "fraud_training_snapshot": [
            SimpleNamespace(extra={"snapshot": "training_snapshot_a"}, timestamp=1),
            SimpleNamespace(extra={"snapshot": "training_snapshot_c"}, timestamp=3),
            SimpleNamespace(extra={}, timestamp=4),
            SimpleNamespace(extra={"snapshot": "training_snapshot_b"}, timestamp=2),
        ]
    }
    assert snapshot_from_events(events) == "training_snapshot_c"
    assert snapshot_from_events({}) is None and snapshot_from_events(None) is None


def _choose_snapshot(settings) -> Any:  # type: ignore[no-untyped-def]
    """The choose_snapshot task's callable, as the training DAG builds it."""
    from airflow.sdk import DAG

    from fraud_mlops.orchestration.training import choose_snapshot

    with DAG("choose_snapshot", schedule=None):
        chosen = choose_snapshot(settings)
    return chosen.operator.python_callable


def test_an_event_naming_a_snapshot_already_trained_on_trains_nothing(local_settings, warehouse) -> None:
    """A cleared ingestion run takes its snapshot again and sends its Asset event again: one
    snapshot must not train, register and deploy twice. A run by hand with the snapshot as its
    parameter still trains, and so does the training run that recorded it, cleared; of events
    handed to one run together, the newest whose snapshot no run trained on is taken."""
    from airflow.sdk.exceptions import AirflowSkipException

    from fraud_mlops.sql_templates import render_sql
    from fraud_mlops.training.lineage import LINEAGE_SQL_FILE, LineageRow, write_lineage
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    choose = _choose_snapshot(local_settings)
    older, snapshot = (
        "training_snapshot_20261206T030000_0123abcd",
        "training_snapshot_20261207T030000_0123abcd",
    )

    def context(*names: str, param: str = "", run_id: str = "asset_triggered__2") -> dict[str, Any]:
        events = [SimpleNamespace(extra={"snapshot": name}, timestamp=i) for i, name in enumerate(names)]
        return {
            "params": {"snapshot": param},
            "triggering_asset_events": {"fraud_training_snapshot": events},
            "run_id": run_id,
        }

    # no run recorded anything yet (no lineage table): it trains
    assert choose(**context(snapshot))["snapshot"] == snapshot
    row = LineageRow(
        target="local", snapshot_name=snapshot, pipeline_run="p1", model_name="fraud-detector",
        model_version="1", gate_decision="deploy", gate_reason="r", champion_version="",
        metrics_json="{}", traffic_json="{}", dag_id="fraud_training", dag_run_id="asset_triggered__1",
    )  # fmt: skip
    lineage = DuckDBWarehouse(local_settings, local_settings.warehouse_path)
    write_lineage(row, lineage, render_sql(LINEAGE_SQL_FILE, local_settings))

    with pytest.raises(AirflowSkipException, match=f"trained on already \\({snapshot}\\)"):
        choose(**context(snapshot))
    assert choose(**context(snapshot, param=snapshot))["snapshot"] == snapshot  # by hand: trains again
    assert (
        choose(**context(snapshot, run_id="asset_triggered__1"))["snapshot"] == snapshot
    )  # its run, cleared
    # two events in one run, the newer one trained on already: the older one's snapshot trains
    assert choose(**context(older, snapshot))["snapshot"] == older


def test_a_lineage_read_that_fails_otherwise_than_on_a_missing_table_fails_the_task(local_settings) -> None:
    """Counted as no run, a failed read (a locked DuckDB file, a BigQuery outage) would train a
    snapshot twice: it raises, and the task is retried."""
    from fraud_mlops.training.lineage import training_runs_on

    class Unreachable:
        def records(self, sql: str, parameters: Any = None) -> Any:
            raise RuntimeError("503 the service is currently unavailable")

    with pytest.raises(RuntimeError, match="503"):
        training_runs_on(Unreachable(), "SELECT 1", "training_snapshot_x", "run")  # type: ignore[arg-type]
