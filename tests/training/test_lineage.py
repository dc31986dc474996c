"""The model_lineage row: built from either target's outcome, written with the same SQL file."""

from __future__ import annotations

from unittest import mock

import pytest

from fraud_mlops.pipeline_runs.result import PipelineResult
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql
from fraud_mlops.training.lineage import LINEAGE_SQL_FILE, lineage_row, write_lineage
from fraud_mlops.warehouse.bigquery import BigQueryWarehouse
from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

RESULT = PipelineResult(
    pipeline_run="fraud-training-2026-11-22-02-45-59-133159",
    snapshot="training_snapshot_20260901T000000_abcd1234",
    decision="deploy",
    reason="accepted: pr_auc 0.8442, roc_auc 0.9901 clear the bars (no champion yet)",
    model_version="1",
    champion_version="",
    metrics={"pr_auc": 0.8442, "roc_auc": 0.9901},
    traffic={"1": 100},
)


def _row(result: PipelineResult = RESULT, target: str = "local"):  # type: ignore[no-untyped-def]
    return lineage_row(
        result, target=target, model_name="fraud-detector", dag_id="fraud_training", dag_run_id="r1"
    )


def test_local_lineage_is_written_by_the_duckdb_warehouse(local_settings: Settings) -> None:
    warehouse = DuckDBWarehouse(local_settings, database=local_settings.warehouse_path)
    local_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    rejected = PipelineResult(
        "fraud-training-2", RESULT.snapshot, "reject", "rejected: pr_auc 0.0487 < minimum 0.5000", "", "1"
    )
    sql = render_sql(LINEAGE_SQL_FILE, local_settings)
    write_lineage(_row(), warehouse, sql)
    write_lineage(_row(rejected), warehouse, sql)
    write_lineage(_row(), warehouse, sql)  # a retry of the task (a later step of it failed): no second row
    rows = warehouse.records(
        "SELECT pipeline_run, model_version, gate_decision, gate_reason, champion_version, metrics_json, "
        "traffic_json, dag_run_id, recorded_at IS NOT NULL FROM fraud.model_lineage "
        "ORDER BY recorded_at, pipeline_run"
    )
    assert rows == [
        (
            RESULT.pipeline_run,
            "1",
            "deploy",
            RESULT.reason,
            "",
            '{"pr_auc": 0.8442, "roc_auc": 0.9901}',
            '{"1": 100}',
            "r1",
            True,
        ),
        ("fraud-training-2", "", "reject", rejected.reason, "1", "{}", "{}", "r1", True),
    ]


@pytest.mark.usefixtures("google_connection")
def test_bigquery_lineage_sends_the_same_sql_with_named_string_parameters(gcp_settings: Settings) -> None:
    with mock.patch("airflow.providers.google.cloud.hooks.bigquery.Client") as client_class:
        write_lineage(
            _row(target="gcp"), BigQueryWarehouse(gcp_settings), render_sql(LINEAGE_SQL_FILE, gcp_settings)
        )

    client = client_class.return_value
    client.query.assert_called_once()
    sql = client.query.call_args.args[0]
    assert sql == render_sql(LINEAGE_SQL_FILE, gcp_settings)
    assert "INSERT INTO `fraud-prj.fraud.model_lineage`" in sql
    assert client.query.call_args.kwargs["location"] == "EU"
    config = client.query.call_args.kwargs["job_config"]
    assert {p.name: (p.type_, p.value) for p in config.query_parameters} == {
        k: ("STRING", v) for k, v in _row(target="gcp").parameters().items()
    }
    assert config.labels == {"app": "fraud-mlops"}
    assert _row(target="gcp").parameters()["target"] == "gcp"
    client.query.return_value.result.assert_called_once()


def _lineage_expiry(warehouse: DuckDBWarehouse) -> int:
    """Whole days until the snapshot's recorded expiry."""
    ((seconds,),) = warehouse.records(
        "SELECT TIMESTAMP_DIFF(expires_at, CURRENT_TIMESTAMP(), SECOND) FROM fraud.snapshot_lineage "
        f"WHERE snapshot_name = '{RESULT.snapshot}'"
    )
    return round(seconds / 86400)


def test_a_registered_model_keeps_its_snapshot_as_long_as_itself(local_settings: Settings) -> None:
    from fraud_mlops.training.lineage import keep_snapshot_sql

    warehouse = DuckDBWarehouse(local_settings, database=local_settings.warehouse_path)
    local_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    warehouse.execute(render_sql("00_setup.sql", local_settings))
    warehouse.execute(
        "INSERT INTO fraud.snapshot_lineage (snapshot_name, expires_at) "
        f"VALUES ('{RESULT.snapshot}', TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 90 DAY))"
    )
    render = lambda name, **extra: render_sql(name, local_settings, **extra)  # noqa: E731
    rejected = PipelineResult("run-2", RESULT.snapshot, "reject", "rejected", "", "1")
    assert keep_snapshot_sql(_row(rejected), render) is None  # nothing registered: nothing kept
    assert _lineage_expiry(warehouse) == 90

    keep = keep_snapshot_sql(_row(), render)
    assert keep is not None
    warehouse.execute(keep)  # ALTER … SET OPTIONS is BigQuery metadata; the lineage row moves
    assert _lineage_expiry(warehouse) == local_settings.model_retention_days
    assert local_settings.model_retention_days == 365  # the pipeline root's lifecycle (infra)


def test_the_serving_champion_keeps_its_snapshot_through_every_run_it_serves(
    local_settings: Settings,
) -> None:
    """A champion registered long ago gets its snapshot's expiry renewed by each later run whose
    gate compared against it; a run without a champion, or one whose champion's snapshot has
    already expired, renews nothing."""
    from fraud_mlops.training.lineage import (
        CHAMPION_SNAPSHOT_SQL_FILE,
        champion_snapshot,
        keep_named_snapshot_sql,
    )

    warehouse = DuckDBWarehouse(local_settings, database=local_settings.warehouse_path)
    local_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    warehouse.execute(render_sql("00_setup.sql", local_settings))
    old, gone, new = (
        "training_snapshot_20251201T000000_0000aaaa",
        "training_snapshot_20251101T000000_0000bbbb",
        "training_snapshot_20261201T000000_0000cccc",
    )
    warehouse.execute(
        "INSERT INTO fraud.snapshot_lineage (snapshot_name, expires_at) VALUES "
        f"('{old}', TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 3 DAY)), "
        f"('{gone}', TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)), "
        f"('{new}', TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 90 DAY))"
    )
    lineage_sql = render_sql(LINEAGE_SQL_FILE, local_settings)
    for snapshot, version in ((gone, "1"), (old, "2")):  # the versions' registering runs
        write_lineage(
            _row(PipelineResult(f"run-of-v{version}", snapshot, "deploy", "ok", version, "")),
            warehouse,
            lineage_sql,
        )
    find = render_sql(CHAMPION_SNAPSHOT_SQL_FILE, local_settings)
    render = lambda name, **extra: render_sql(name, local_settings, **extra)  # noqa: E731

    # a later run on a new snapshot, rejected, with version 2 still champion
    kept_champion = _row(PipelineResult("r3", new, "reject", "worse", "", "2"))
    write_lineage(kept_champion, warehouse, lineage_sql)
    assert champion_snapshot(kept_champion, warehouse, find) == old
    warehouse.execute(keep_named_snapshot_sql(old, render))
    ((days,),) = warehouse.records(
        "SELECT TIMESTAMP_DIFF(expires_at, CURRENT_TIMESTAMP(), SECOND) FROM fraud.snapshot_lineage "
        f"WHERE snapshot_name = '{old}'"
    )
    assert round(days / 86400) == local_settings.model_retention_days  # was 3 days

    # version 1's snapshot has expired: nothing to renew; no champion at all: no lookup
    assert (
        champion_snapshot(_row(PipelineResult("r4", new, "reject", "worse", "", "1")), warehouse, find)
        is None
    )
    assert (
        champion_snapshot(_row(PipelineResult("r5", new, "deploy", "ok", "3", "")), mock.Mock(), find) is None
    )
    with pytest.raises(ValueError, match="not a training snapshot name"):
        keep_named_snapshot_sql("x`; DROP TABLE t; --", render)
    with pytest.raises(ValueError, match="not a training snapshot name"):
        keep_named_snapshot_sql("training_snapshot_20261207T030000_9d253a76_2`; --", render)
    # a run's second publish's snapshot is a snapshot name (sql_templates.snapshot_name)
    assert "training_snapshot_20261207T030000_9d253a76_2" in keep_named_snapshot_sql(
        "training_snapshot_20261207T030000_9d253a76_2", render
    )


def test_on_bigquery_the_snapshot_table_itself_gets_the_models_expiry(gcp_settings: Settings) -> None:
    from fraud_mlops.training.lineage import keep_snapshot_sql

    sql = keep_snapshot_sql(_row(target="gcp"), lambda name, **extra: render_sql(name, gcp_settings, **extra))
    assert sql is not None
    assert (
        f"ALTER TABLE `fraud-prj.fraud_snapshots.{RESULT.snapshot}` SET OPTIONS (\n"
        "  expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 365 DAY)\n);"
    ) in sql
    forged = PipelineResult("r", "x`; DROP TABLE t; --", "deploy", "ok", "2", "1")
    with pytest.raises(ValueError, match="not a training snapshot name"):
        keep_snapshot_sql(_row(forged), lambda name, **extra: render_sql(name, gcp_settings, **extra))
