-- Where the prediction log's append (83_prediction_log.sql, 97_prediction_log_incoming.sql) reads
-- card_predictions from: the last time an append logged a scoring run. A run not logged yet
-- was committed after that append began, so it scored at most its transaction's length before
-- (fraud_mlops/prediction_log/append.py reads from a day before): card_predictions keeps every
-- scoring run, and only those days are read, not every run's.
{%- from 'macros/card_predictions.sql' import logged_batch_runs_table with context %}
{{ logged_batch_runs_table() }};

SELECT MAX(logged_at) AS last_logged
FROM `{{ dataset }}.prediction_log_batch_runs`
