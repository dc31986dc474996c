-- Fraud-ops reporting views: what Looker Studio reads on gcp and `make dashboard` renders locally.
-- Idempotent (CREATE OR REPLACE VIEW); refreshed by each fraud_monitoring run. The monitoring
-- tables are declared first, empty, so their views always exist. Tables ingestion publishes
-- (training examples, rejected rows) are never declared here: their schema is the candidates'
-- (55_publish.sql), so their views appear once ingestion has published them (`published`,
-- fraud_mlops.monitoring.reporting.published_tables).
{%- from 'macros/monitoring_tables.sql' import prediction_log_table, monitoring_metrics_table with context %}
{#- rendered without `published` (docs, rendering tests): every view, as once ingestion has run #}
{%- set published = published | default({training_table: true, 'rejected_rows': true}) %}
{{ prediction_log_table() }};
{{ monitoring_metrics_table() }};
CREATE TABLE IF NOT EXISTS `{{ dataset }}.ingestion_log` (
  file_name STRING, file_generation STRING, file_md5 STRING, status STRING, row_count INT64,
  run_id STRING, logged_at TIMESTAMP
);

-- Daily prediction volume, fraud alerts and the amount they flagged, per source (online | batch).
CREATE OR REPLACE VIEW `{{ dataset }}.rpt_daily_predictions` AS
SELECT
  DATE(logged_at) AS day,
  source,
  COUNT(*) AS requests,
  COUNTIF(status >= 500) AS errors,
  COUNTIF(decision = 'fraud') AS alerts,
  SAFE_DIVIDE(COUNTIF(decision = 'fraud'), COUNTIF(decision IS NOT NULL)) AS alert_rate,
  SUM(IF(decision = 'fraud', SAFE_CAST(JSON_VALUE(features, '$.amount') AS FLOAT64), 0)) AS amount_flagged,
  AVG(latency_ms) AS avg_latency_ms
FROM `{{ dataset }}.prediction_log`
WHERE source IN ('online', 'batch')
GROUP BY day, source;

{%- if published[training_table] %}

-- Daily transactions and their labelled fraud rate (labels arrive with ingestion).
CREATE OR REPLACE VIEW `{{ dataset }}.rpt_daily_transactions` AS
SELECT
  DATE({{ event_time }}) AS day,
  COUNT(*) AS transactions,
  SUM({{ label }}) AS fraud_transactions,
  SAFE_DIVIDE(SUM({{ label }}), COUNT(*)) AS fraud_rate,
  SUM(amount) AS amount
FROM `{{ dataset }}.{{ training_table }}`
GROUP BY day;
{%- endif %}

-- Traffic and scores by model version (shadow scores shown apart: never returned to callers).
CREATE OR REPLACE VIEW `{{ dataset }}.rpt_model_traffic` AS
SELECT
  DATE(logged_at) AS day,
  model_version,
  source,
  COUNT(*) AS requests,
  COUNTIF(status >= 500) AS errors,  -- failed model calls charged to the version
  AVG(score) AS avg_score,
  SAFE_DIVIDE(COUNTIF(decision = 'fraud'), COUNTIF(status = 200)) AS alert_rate,
  MAX(latency_ms) AS max_latency_ms
FROM `{{ dataset }}.prediction_log`
WHERE model_version IS NOT NULL
GROUP BY day, model_version, source;

{%- if published[training_table] %}

-- Precision and recall once labels arrive: a prediction for a card on a day is "fraud" in truth
-- when any of that card's transactions that day is labelled fraud (card-day granularity: online
-- requests carry no transaction id). Days without labelled transactions are left out.
CREATE OR REPLACE VIEW `{{ dataset }}.rpt_precision_recall` AS
WITH truth AS (
  SELECT {{ entity_key }}, DATE({{ event_time }}) AS day, MAX({{ label }}) AS is_fraud
  FROM `{{ dataset }}.{{ training_table }}`
  GROUP BY {{ entity_key }}, day
),
judged AS (
  SELECT p.model_version, DATE(p.logged_at) AS day, p.decision = 'fraud' AS flagged, t.is_fraud = 1 AS fraud
  FROM `{{ dataset }}.prediction_log` AS p
  JOIN truth AS t ON t.{{ entity_key }} = p.{{ entity_key }} AND t.day = DATE(p.logged_at)
  WHERE p.source IN ('online', 'batch') AND p.decision IS NOT NULL
)
SELECT
  model_version,
  day,
  COUNT(*) AS labelled_predictions,
  COUNTIF(flagged AND fraud) AS true_positives,
  SAFE_DIVIDE(COUNTIF(flagged AND fraud), COUNTIF(flagged)) AS precision,
  SAFE_DIVIDE(COUNTIF(flagged AND fraud), COUNTIF(fraud)) AS recall
FROM judged
GROUP BY model_version, day;
{%- endif %}

-- Drift per feature: every monitoring run's figures (the newest run first in the dashboard).
CREATE OR REPLACE VIEW `{{ dataset }}.rpt_drift_per_feature` AS
SELECT run_id, computed_at, check_name, feature, value, threshold, drifted, status, current_rows
FROM `{{ dataset }}.monitoring_metrics`
WHERE feature IS NOT NULL;

{%- if published.rejected_rows %}

-- Ingestion rejects by reason and day (quarantined files live in the quarantine bucket with
-- their .reason.json; they never reach the warehouse).
CREATE OR REPLACE VIEW `{{ dataset }}.rpt_ingestion_rejects` AS
SELECT DATE(rejected_at) AS day, reason, COUNT(*) AS rejected_rows
FROM `{{ dataset }}.rejected_rows`
GROUP BY day, reason;
{%- endif %}

-- Run status: ingestion loads and monitoring runs, newest first.
CREATE OR REPLACE VIEW `{{ dataset }}.rpt_run_status` AS
SELECT 'ingestion' AS kind, run_id, MAX(logged_at) AS finished_at,
       STRING_AGG(DISTINCT status, ',') AS status, SUM(row_count) AS row_count
FROM `{{ dataset }}.ingestion_log`
GROUP BY run_id
UNION ALL
SELECT 'monitoring' AS kind, run_id, MAX(computed_at) AS finished_at,
       IF(COUNTIF(status = 'drift') > 0, 'drift', IF(COUNTIF(status = 'ok') > 0, 'ok', 'insufficient_data')) AS status,
       MAX(current_rows) AS row_count
FROM `{{ dataset }}.monitoring_metrics`
GROUP BY run_id;
