"""The monitoring DAG's real ``apply_canary_decision`` task alone, for gcp_canary_probe.py
(run with ``MLOPS_TARGET=gcp``): the task as ``fraud_monitoring`` builds it."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from fraud_mlops.orchestration.monitoring import apply_canary_decision, dag_params
from fraud_mlops.settings import get_settings

with DAG("gcp_canary_probe", schedule=None, start_date=datetime(2026, 1, 1), params=dag_params()):
    apply_canary_decision(get_settings())
