-- Batch scoring, step 3: this run's predictions replace any earlier ones of the same run.
-- The batch prediction (Vertex AI on gcp, the same model server locally) wrote
-- {{ batch_output_table }}: the input columns plus `prediction`, the model server's JSON answer
-- per card (fraud_probability, decision, threshold, model_name, model_version). @run_id is the
-- Airflow run id; @model_version the version the batch prediction ran (its XCom); @run_after
-- the run's run_after (its rows are scored after it: the DELETE reads the days from a day
-- before it on, not every run's). Idempotent: a rerun deletes and re-inserts its own rows (same
-- deterministic prediction ids), inside one transaction. A card erased during the run is left
-- out: the batch prediction may have read its features before (macros/card_erasures.sql).
{%- from 'macros/card_erasures.sql' import card_erasures_table, not_erased_during_run with context %}
{%- from 'macros/card_predictions.sql' import card_predictions_table with context %}
{{ card_predictions_table() }};

{{ card_erasures_table() }};

BEGIN TRANSACTION;

DELETE FROM `{{ dataset }}.card_predictions`
WHERE scored_at >= TIMESTAMP_SUB(CAST(@run_after AS TIMESTAMP), INTERVAL 1 DAY)
  AND scoring_run_id = @run_id;

INSERT INTO `{{ dataset }}.card_predictions` (
  prediction_id, scoring_run_id, {{ entity_key }}, score, decision, threshold,
  model_name, model_version, feature_timestamp, scored_at
)
SELECT
  TO_HEX(SHA256(CONCAT(@run_id, ':', {{ entity_key }}))),
  @run_id,
  {{ entity_key }},
  CAST(JSON_VALUE(prediction, '$.fraud_probability') AS FLOAT64),
  JSON_VALUE(prediction, '$.decision'),
  CAST(JSON_VALUE(prediction, '$.threshold') AS FLOAT64),
  JSON_VALUE(prediction, '$.model_name'),
  -- Vertex's copy of the artifact may predate the version number written into its metadata;
  -- the batch job's own model_version_id (@model_version) fills it in then.
  COALESCE(NULLIF(JSON_VALUE(prediction, '$.model_version'), ''), @model_version),
  TIMESTAMP_MICROS(feature_time_us),
  CURRENT_TIMESTAMP()
FROM `{{ dataset }}.{{ batch_output_table }}` AS o
WHERE {{ not_erased_during_run('o') }};

COMMIT TRANSACTION;
