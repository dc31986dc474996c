-- The earliest answer the next append brings (the staged rows and the batch scores not yet
-- logged, 83_prediction_log.sql's incoming rows, or where a rerun's run was first logged): the append's MERGE reads the
-- prediction log only from a day before it (fraud_mlops/prediction_log/append.py), not every
-- day's rows on every run. The tables are created first: before the first batch scoring there
-- is no card_predictions.
{%- from 'macros/card_predictions.sql' import card_predictions_table, logged_batch_runs_table, unlogged_batch_scores with context %}
{%- from 'macros/monitoring_tables.sql' import prediction_log_table with context %}
{{ prediction_log_table() }};

{{ card_predictions_table() }};

{{ logged_batch_runs_table() }};

SELECT MIN(logged_at) AS earliest
FROM (
  SELECT logged_at FROM `{{ dataset }}.prediction_log_staging`
  UNION ALL
  -- a rerun's repeats lie where its run was first logged
  {{ unlogged_batch_scores('COALESCE(r.first_scored_at, p.scored_at) AS logged_at') }}
)
