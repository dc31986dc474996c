"""A DAG with the project's defaults whose one task fails: the alert test runs it with dag.test()."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from fraud_mlops.orchestration.defaults import DEFAULT_ARGS, dag_defaults
from fraud_mlops.settings import get_settings

with DAG(
    dag_id="fraud_alert_probe",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    **dag_defaults(get_settings(), "test", default_args={**DEFAULT_ARGS, "retries": 0}),
):

    @task
    def check_data_quality() -> None:
        raise ValueError("quality check failed: fraud rate 0.0 below 0.0005")

    check_data_quality()
