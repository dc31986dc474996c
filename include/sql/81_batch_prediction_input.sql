-- Batch scoring, step 1: the input table of the batch prediction (one row per card: its latest
-- features, in the online store's layout) and no output table of an earlier run. Vertex AI
-- batch prediction reads the input as BigQuery rows, sends each as a JSON object to the model
-- server (fraud_mlops/registry/model_server.py, which reads the features by name and ignores
-- the other columns), and creates the output table, which must not exist beforehand. Locally
-- the same server code fills the same output table (fraud_mlops/registry/local_batch.py).
CREATE OR REPLACE TABLE `{{ dataset }}.{{ batch_input_table }}` AS
SELECT
  {{ entity_key }},
  UNIX_MICROS({{ event_time }}) AS feature_time_us,
  {{ feature_columns }}
FROM `{{ dataset }}.{{ latest_features_view }}`;

DROP TABLE IF EXISTS `{{ dataset }}.{{ batch_output_table }}`;
