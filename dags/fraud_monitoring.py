"""
### Watching the model in production

Hourly, and after every batch-scoring run (the `fraud_card_predictions` Asset):

1. `append_prediction_log`: the function's logged answers (spool files locally, the Cloud
   Logging sink on gcp) and new batch scores appended to `prediction_log`, without duplicates.
2. `check_drift`: Evidently compares the training snapshot with the served features (skew), the
   reference window with the current one (drift) and their scores (prediction drift); HTML
   reports and `result.json` per run; an alert when drift starts or changes, and a reminder a
   day (`drift_reminder_hours`) while it lasts.
3. `record_monitoring_metrics`: per-feature figures into `monitoring_metrics`, then
   `refresh_reporting_views`: the fraud-ops dashboard's views (Looker Studio on gcp).
4. `apply_canary_decision`: the prediction log's evidence on the canary and the champion
   (requests, errors, p99 latency, alert rate, shadow pairs) decides PROMOTE, HOLD or ROLLBACK;
   the verdict is applied through the registry and endpoint; every rollback raises an alert.

Params set the windows, the drift reminder and canary-policy overrides for manual runs; see docs/monitoring.md.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable

from fraud_mlops import assets
from fraud_mlops.orchestration.defaults import dag_defaults
from fraud_mlops.orchestration.monitoring import (
    append_prediction_log,
    apply_canary_decision,
    check_drift,
    dag_params,
    record_monitoring_metrics,
    refresh_reporting_views,
)
from fraud_mlops.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="fraud_monitoring",
    description="Prediction log → drift/skew reports → monitoring_metrics; canary promote/hold/rollback",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 * * * *", timezone="UTC"), assets=[assets.card_predictions()]
    ),
    start_date=datetime(2026, 1, 1),
    doc_md=__doc__,
    **dag_defaults(settings, "monitoring", params=dag_params()),
):
    logged = append_prediction_log(settings)
    (
        logged
        >> check_drift(settings)
        >> record_monitoring_metrics(settings)
        >> refresh_reporting_views(settings)
    )
    logged >> apply_canary_decision(settings)
