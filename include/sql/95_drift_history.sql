-- Monitoring: the drift-alert decisions of the runs since `since` (an instant rendered by the
-- monitoring task, never user input), newest first, for the change-of-state rule
-- (fraud_mlops/monitoring/drift_alerts.py). The task asks only once drift_alerts exists
-- (94_drift_alert_record.sql creates it with the first run's decision). `flagged` is the state
-- as each run left it (a check lacking data carried over): unjudged, which 94 records for
-- people, is not needed here.
SELECT run_id, decided_at, flagged, raised
FROM `{{ dataset }}.drift_alerts`
WHERE decided_at >= TIMESTAMP('{{ since }}')
ORDER BY decided_at DESC, run_id DESC
