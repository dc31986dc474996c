{#- The card_predictions table's DDL, shared by batch scoring (80), which writes it, and the
    prediction log (83), which appends its rows in the log's shape. -#}
{% macro card_predictions_table() -%}
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
)
{%- endmacro %}
