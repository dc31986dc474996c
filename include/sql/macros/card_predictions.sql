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

{#- The batch runs (and model versions) whose scores the prediction log holds: written by the
    append (83) with the rows, in one transaction. card_predictions keeps every scoring run, so
    the append takes only the runs not yet logged, and a rerun of a logged run (same prediction
    ids, a new scored_at) is not logged twice; a rerun by another model version is. -#}
{% macro logged_batch_runs_table() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.prediction_log_batch_runs` (
  scoring_run_id STRING,
  model_version STRING,
  logged_at TIMESTAMP
)
{%- endmacro %}

{#- card_predictions' rows of the runs not yet in the prediction log (aliased p). -#}
{% macro unlogged_batch_scores(columns) -%}
SELECT {{ columns }}
FROM `{{ dataset }}.card_predictions` AS p
LEFT JOIN `{{ dataset }}.prediction_log_batch_runs` AS r
  ON r.scoring_run_id = p.scoring_run_id AND COALESCE(r.model_version, '') = COALESCE(p.model_version, '')
WHERE r.scoring_run_id IS NULL
{%- endmacro %}
