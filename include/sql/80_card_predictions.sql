-- Batch scoring, step 2: this run's predictions replace any earlier ones of the same run.
-- The scoring task (fraud_mlops/serving/batch.py) filled card_predictions_staging with one
-- scored row per card; @run_id is the Airflow run id. Idempotent: a rerun deletes and
-- re-inserts its own rows (same deterministic prediction ids), inside one transaction.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.card_predictions` (
  prediction_id STRING,
  scoring_run_id STRING,
  {{ entity_key }} STRING,
  score FLOAT64,
  decision STRING,
  threshold FLOAT64,
  model_name STRING,
  model_version STRING,
  feature_timestamp TIMESTAMP,
  scored_at TIMESTAMP
);

BEGIN TRANSACTION;

DELETE FROM `{{ dataset }}.card_predictions` WHERE scoring_run_id = @run_id;

INSERT INTO `{{ dataset }}.card_predictions` (
  prediction_id, scoring_run_id, {{ entity_key }}, score, decision, threshold,
  model_name, model_version, feature_timestamp, scored_at
)
SELECT
  TO_HEX(SHA256(CONCAT(@run_id, ':', {{ entity_key }}))),
  @run_id,
  {{ entity_key }},
  score,
  IF(score >= threshold, 'fraud', 'legitimate'),
  threshold,
  model_name,
  model_version,
  feature_timestamp,
  scored_at
FROM `{{ dataset }}.card_predictions_staging`;

COMMIT TRANSACTION;
