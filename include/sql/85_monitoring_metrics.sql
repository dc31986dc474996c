-- Monitoring: this run's per-feature drift figures (staged by the monitoring task) replace any
-- earlier rows of the same run, in one transaction: a rerun never duplicates.
{%- from 'macros/monitoring_tables.sql' import monitoring_metrics_table with context %}
{{ monitoring_metrics_table() }};

BEGIN TRANSACTION;

DELETE FROM `{{ dataset }}.monitoring_metrics`
WHERE run_id IN (SELECT DISTINCT run_id FROM `{{ dataset }}.monitoring_metrics_staging`);

INSERT INTO `{{ dataset }}.monitoring_metrics` (
  run_id, computed_at, check_name, feature, method, value, threshold, drifted, status,
  reference_rows, current_rows
)
SELECT
  run_id, computed_at, check_name, feature, method, value, threshold, drifted, status,
  reference_rows, current_rows
FROM `{{ dataset }}.monitoring_metrics_staging`;

COMMIT TRANSACTION;
