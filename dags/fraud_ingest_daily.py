"""
### Daily batch ingestion of whatever landed

The scheduled counterpart of `fraud_ingest_sensor`: once a day it processes every file under
the landing prefix with the same tasks (one shared builder, not a copy), so files that landed
while the sensor DAG was paused are not forgotten. Safe to run beside the sensor DAG: loads
are idempotent by file content and the transforms are full refreshes.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from fraud_mlops.orchestration.ingestion import build_ingestion_flow, dag_kwargs
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="fraud_ingest_daily",
    description="Daily: landed files → raw → staging → features → checks → snapshot",
    schedule="0 3 * * *",
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_kwargs(settings),
):
    build_ingestion_flow(settings)
