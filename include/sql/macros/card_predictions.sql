{#- The card_predictions table's DDL, shared by batch scoring (80), which writes it, and the
    prediction log (83), which appends its rows in the log's shape. It keeps every scoring run
    (a run's rows for each card scored), so it is partitioned by the day a run scored: a run
    replaces (80) and summarises (82) its own rows from the day it began, and the prediction
    log's append reads only the days since it last logged a run (97, 83). -#}
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
PARTITION BY DATE(scored_at)
CLUSTER BY scoring_run_id
{%- endmacro %}

{#- The batch runs (and model versions) whose scores the prediction log holds, and the scored_at
    of the rows logged: written by the append (83) with the rows, in one transaction.
    card_predictions keeps every scoring run, so the append takes only rows scored after their
    run's last record: a new run, or a rerun (a new scored_at; the cards it scored again keep
    their prediction ids, and are repeats of the rows logged at the run's first record). -#}
{% macro logged_batch_runs_table() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.prediction_log_batch_runs` (
  scoring_run_id STRING,
  model_version STRING,
  scored_at TIMESTAMP,
  logged_at TIMESTAMP
)
{%- endmacro %}

{#- card_predictions' rows not yet in the prediction log (aliased p; r: their run's records, with
    first_scored_at, where the run's earliest logged copies lie), read from batch_from on
    (98_prediction_log_batch_from.sql: a day before the last append that logged a run; every
    row scored since is among those days). With incoming_from (83), only the rows whose repeats
    lie at or after it, as 97 found them: a rerun committed after 97 answered waits for the next
    append, whose look for repeats reaches its first logged copies. -#}
{% macro unlogged_batch_scores(columns, incoming_from=none) -%}
SELECT {{ columns }}
FROM `{{ dataset }}.card_predictions` AS p
LEFT JOIN (
  SELECT scoring_run_id, model_version, MIN(scored_at) AS first_scored_at, MAX(scored_at) AS last_scored_at
  FROM `{{ dataset }}.prediction_log_batch_runs`
  GROUP BY scoring_run_id, model_version
) AS r
  ON r.scoring_run_id = p.scoring_run_id AND COALESCE(r.model_version, '') = COALESCE(p.model_version, '')
WHERE p.scored_at >= TIMESTAMP('{{ batch_from }}')
  AND (r.scoring_run_id IS NULL OR p.scored_at > r.last_scored_at)
{%- if incoming_from %}
  AND COALESCE(r.first_scored_at, p.scored_at) >= TIMESTAMP('{{ incoming_from }}')
{%- endif %}
{%- endmacro %}

{#- Batch scoring's input table (81 replaces it every run; one row per card, the columns in
    BATCH_INPUT_COLUMNS order), created empty where missing: the erasure (96) deletes the card
    from it whether or not a run made it yet. -#}
{% macro batch_input_ddl() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.{{ batch_input_table }}` (
  {{ entity_key }} STRING,
  feature_time_us INT64,
{%- for name, type in feature_types %}
  {{ name }} {{ type }}{{ "," if not loop.last }}
{%- endfor %}
)
{%- endmacro %}
