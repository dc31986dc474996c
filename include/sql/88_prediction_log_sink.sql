-- gcp only (fraud_mlops/prediction_log/store.py CloudPredictionLog): the prediction-log entries
-- the log sink of infra/modules/monitoring routed into `{{ log_table }}` (Cloud Run's stdout log,
-- one partitioned table) since {{ since }} (an overlap before the newest answer already logged,
-- 93_prediction_log_newest.sql; a constant, so BigQuery reads only those partitions), in the prediction log's shape,
-- as the staging table 83_prediction_log.sql appends without duplicates. Each entry carries the
-- row as one JSON string (jsonPayload.record), so a field that was always null on the routed
-- entries so far (absent from the sink table's schema) can never break this query.
CREATE OR REPLACE TABLE `{{ dataset }}.prediction_log_staging` AS
SELECT
  JSON_VALUE(jsonPayload.record, '$.request_id') AS request_id,
  -- never NULL: 83_prediction_log.sql looks for repeats by logged_at (the entry's time else)
  IFNULL(TIMESTAMP(JSON_VALUE(jsonPayload.record, '$.logged_at')), timestamp) AS logged_at,
  JSON_VALUE(jsonPayload.record, '$.source') AS source,
  JSON_VALUE(jsonPayload.record, '$.{{ entity_key }}') AS {{ entity_key }},
  JSON_VALUE(jsonPayload.record, '$.features') AS features,
  SAFE_CAST(JSON_VALUE(jsonPayload.record, '$.score') AS FLOAT64) AS score,
  JSON_VALUE(jsonPayload.record, '$.decision') AS decision,
  SAFE_CAST(JSON_VALUE(jsonPayload.record, '$.threshold') AS FLOAT64) AS threshold,
  JSON_VALUE(jsonPayload.record, '$.model_name') AS model_name,
  JSON_VALUE(jsonPayload.record, '$.model_version') AS model_version,
  JSON_VALUE(jsonPayload.record, '$.deployed_model_id') AS deployed_model_id,
  SAFE_CAST(JSON_VALUE(jsonPayload.record, '$.latency_ms') AS FLOAT64) AS latency_ms,
  SAFE_CAST(JSON_VALUE(jsonPayload.record, '$.status') AS INT64) AS status,
  JSON_VALUE(jsonPayload.record, '$.error') AS error
FROM `{{ log_table }}`
WHERE timestamp >= TIMESTAMP('{{ since }}')
  AND jsonPayload.log_type = 'prediction_log';
