{#- The monitoring tables' DDL, shared by the SQL that writes them (83, 85) and the reporting views (87). -#}
{% macro prediction_log_table() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.prediction_log` (
  request_id STRING,
  logged_at TIMESTAMP,
  source STRING,  -- online | shadow | batch
  {{ entity_key }} STRING,
  features STRING,  -- the served feature vector, JSON object name -> value
  score FLOAT64,
  decision STRING,
  threshold FLOAT64,
  model_name STRING,
  model_version STRING,
  deployed_model_id STRING,
  latency_ms FLOAT64,
  status INT64,
  error STRING
)
{#- One partition a day: the monitoring windows (84, bounds rendered as constants) read their
    days' answers, not every day's feature vectors on every hourly run. No partition filter is
    required: the dashboard's views (87) and erasure (96) read every day. #}
PARTITION BY DATE(logged_at)
CLUSTER BY source, model_version
{%- endmacro %}

{% macro monitoring_metrics_table() -%}
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
)
{%- endmacro %}

{#- drift_alerts' DDL (94): a table the first version made (without unjudged) gains the column
    before a record names it. -#}
{% macro drift_alerts_table() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.drift_alerts` (
  run_id STRING,
  decided_at TIMESTAMP,
  flagged STRING,
  raised BOOL,
  reason STRING,
  unjudged STRING
);

ALTER TABLE `{{ dataset }}.drift_alerts` ADD COLUMN IF NOT EXISTS unjudged STRING
{%- endmacro %}
