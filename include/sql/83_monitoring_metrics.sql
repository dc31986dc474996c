-- Monitoring: this run's per-feature drift figures (staged by the monitoring task) replace any
-- earlier rows of the same run, in one transaction: a rerun never duplicates.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.monitoring_metrics` (
  run_id STRING,
  computed_at TIMESTAMP,
  check_name STRING,  -- skew | drift | prediction_drift
  feature STRING,
  method STRING,
  value FLOAT64,
  threshold FLOAT64,
  drifted BOOL,
  status STRING,  -- ok | drift | insufficient_data (of the whole check)
  reference_rows INT64,
  current_rows INT64
);

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
