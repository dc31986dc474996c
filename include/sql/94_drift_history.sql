-- Monitoring: each earlier run's checks and their status since `since` (an instant rendered by
-- the monitoring task, never user input), for the drift alert's change-of-state rule
-- (fraud_mlops/monitoring/drift_alerts.py): one row per run and check. The task asks only once
-- monitoring_metrics exists (85 creates it after the first run's check).
SELECT run_id, MIN(computed_at) AS computed_at, check_name, MAX(status) AS status
FROM `{{ dataset }}.monitoring_metrics`
WHERE computed_at >= TIMESTAMP('{{ since }}')
GROUP BY run_id, check_name
ORDER BY computed_at, run_id, check_name
