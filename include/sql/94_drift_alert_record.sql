-- Monitoring: one run's drift-alert decision (fraud_mlops/monitoring/drift_alerts.py): when it
-- decided, which checks flagged drift as the run left the state (comma-separated, sorted; empty:
-- none; a check lacking data keeps its earlier state), whether it alerted and why, and which
-- checks lacked data. The next runs read it back (95_drift_history.sql) to alert on a change of
-- state, not on every flagged run. Replaces the run's earlier decision: a retried task records once.
{%- from 'macros/monitoring_tables.sql' import drift_alerts_table with context %}
{{ drift_alerts_table() }};

BEGIN TRANSACTION;

DELETE FROM `{{ dataset }}.drift_alerts` WHERE run_id = @run_id;

INSERT INTO `{{ dataset }}.drift_alerts` (run_id, decided_at, flagged, raised, reason, unjudged)
VALUES (@run_id, TIMESTAMP(@decided_at), @flagged, @raised = 'true', @reason, @unjudged);

COMMIT TRANSACTION;
