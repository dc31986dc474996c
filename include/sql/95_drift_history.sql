-- Monitoring: the drift-alert decisions of the runs since `since` (an instant rendered by the
-- monitoring task, never user input), newest first, for the change-of-state rule
-- (fraud_mlops/monitoring/drift_alerts.py). The task asks only once drift_alerts exists
-- (94_drift_alert_record.sql creates it with the first run's decision); a table the first
-- version made gains the column this reads first.
{%- from 'macros/monitoring_tables.sql' import drift_alerts_table with context %}
{{ drift_alerts_table() }};

SELECT run_id, decided_at, flagged, raised, unjudged
FROM `{{ dataset }}.drift_alerts`
WHERE decided_at >= TIMESTAMP('{{ since }}')
ORDER BY decided_at DESC, run_id DESC
