"""The fraud_monitoring DAG's shape: its triggers, task graph, pools and failure notifiers."""

from __future__ import annotations

from airflow.dag_processing.dagbag import DagBag

from fraud_mlops.orchestration.alerts import FraudAlertNotifier
from fraud_mlops.settings import REPO_ROOT, Settings


def test_monitoring_dag_runs_hourly_and_after_batch_scoring(local_settings: Settings) -> None:
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "fraud_monitoring.py"))
    assert not bag.import_errors
    dag = bag.dags["fraud_monitoring"]

    schedule = dag.timetable
    assert [asset.name for asset in schedule.asset_condition.objects] == ["fraud_card_predictions"]
    assert schedule.timetable.expression == "30 * * * *"

    upstream = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert upstream == {
        "append_prediction_log": set(),
        "check_drift": {"append_prediction_log"},
        "record_monitoring_metrics": {"check_drift"},
        "refresh_reporting_views": {"record_monitoring_metrics"},
        "apply_canary_decision": {"append_prediction_log"},
    }
    assert {t.pool for t in dag.tasks} == {local_settings.warehouse_pool}  # DuckDB: one writer

    for task in dag.tasks:
        callbacks = task.on_failure_callback
        assert any(isinstance(c, FraudAlertNotifier) and c.kind == "task_failure" for c in callbacks), (
            task.task_id
        )
    assert any(isinstance(c, FraudAlertNotifier) and c.kind == "dag_failure" for c in dag.on_failure_callback)
