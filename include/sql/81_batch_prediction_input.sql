-- Batch scoring, step 1: the input table of the batch prediction (one row per card: its latest
-- features, in the online store's layout) and no output table of an earlier run. Vertex AI
-- batch prediction reads the input as BigQuery rows, sends each to the model server as an array
-- of its columns in table order (InstanceConfig's default for BigQuery input), so the server
-- (fraud_mlops/registry/model_server.py) reads the features by their place in
-- BATCH_INPUT_COLUMNS: keep this SELECT's order equal to it (tests/warehouse/test_bigquery_analysis.py).
-- Vertex creates the output table, which must not exist beforehand. Locally
-- the same server code fills the same output table (fraud_mlops/registry/batch_prediction.py).
-- Features are cast to their declared types: DuckDB widens some INT64 expressions (a SUM to
-- HUGEINT, which reaches Python as a Decimal), which BigQuery would not.
CREATE OR REPLACE TABLE `{{ dataset }}.{{ batch_input_table }}` AS
SELECT
  {{ entity_key }},
  UNIX_MICROS({{ event_time }}) AS feature_time_us,
{%- for name, type in feature_types %}
  CAST({{ name }} AS {{ type }}) AS {{ name }}{{ "," if not loop.last }}
{%- endfor %}
FROM `{{ dataset }}.{{ latest_features_view }}`;

DROP TABLE IF EXISTS `{{ dataset }}.{{ batch_output_table }}`;
