-- The prediction log: every answer a model gave, online, shadow (a canary's score of the same
-- request, never returned) or batch. Appends the staged rows (spool files locally, the log
-- sink's view on gcp: see fraud_mlops/prediction_log/store.py) and the batch scores not yet
-- logged (those scored after their run's record in prediction_log_batch_runs, written in the
-- same transaction, and whose repeats lie from incoming_from on, as 97 found them:
-- macros/card_predictions.sql).
-- Idempotent: a row already logged (same request, source and model version) is skipped, so a
-- retried load never duplicates.
-- The MERGE reads the logged rows from logged_from on (a day before the earliest incoming
-- row, 97_prediction_log_incoming.sql; a constant in the merge condition, so BigQuery reads only
-- those days: "Updating partitioned table data using DML",
-- https://cloud.google.com/bigquery/docs/using-dml-with-partitioned-tables). A repeat is the same
-- row again, with its logged_at; a client re-sending a request id (X-Request-Id) more than a day
-- before the earliest incoming row may be logged again.
-- An answer logged before its card's erasure is not logged (again): the sources still hold it
-- after the erasure deleted the logged copy (macros/card_erasures.sql).
{%- from 'macros/card_erasures.sql' import card_erasures_table, not_erased with context %}
{%- from 'macros/card_predictions.sql' import card_predictions_table, logged_batch_runs_table, unlogged_batch_scores with context %}
{%- from 'macros/monitoring_tables.sql' import prediction_log_table with context %}
{{ prediction_log_table() }};

{{ card_predictions_table() }};

{{ logged_batch_runs_table() }};

{{ card_erasures_table() }};

BEGIN TRANSACTION;

MERGE `{{ dataset }}.prediction_log` AS logged
USING (
  SELECT * FROM (
    SELECT * FROM `{{ dataset }}.prediction_log_staging`
    WHERE TRUE  -- BigQuery refuses a QUALIFY without WHERE, GROUP BY or HAVING
    QUALIFY ROW_NUMBER() OVER (
      PARTITION BY request_id, source, COALESCE(model_version, '') ORDER BY logged_at
    ) = 1
    UNION ALL
    {{ unlogged_batch_scores(
      "p.prediction_id AS request_id, p.scored_at AS logged_at, 'batch' AS source, p." ~ entity_key ~ ",
    CAST(NULL AS STRING) AS features, p.score, p.decision, p.threshold, p.model_name, p.model_version,
    CAST(NULL AS STRING) AS deployed_model_id, CAST(NULL AS FLOAT64) AS latency_ms, 200 AS status,
    CAST(NULL AS STRING) AS error",
      incoming_from
    ) }}
  ) AS answer
  WHERE {{ not_erased('answer', 'answer.logged_at') }}
) AS incoming
ON logged.logged_at >= TIMESTAMP('{{ logged_from }}')
  AND logged.request_id = incoming.request_id
  AND logged.source = incoming.source
  AND COALESCE(logged.model_version, '') = COALESCE(incoming.model_version, '')
WHEN NOT MATCHED THEN INSERT (
    request_id, logged_at, source, {{ entity_key }}, features, score, decision, threshold,
    model_name, model_version, deployed_model_id, latency_ms, status, error
  ) VALUES (
    incoming.request_id, incoming.logged_at, incoming.source, incoming.{{ entity_key }}, incoming.features,
    incoming.score, incoming.decision, incoming.threshold, incoming.model_name, incoming.model_version,
    incoming.deployed_model_id, incoming.latency_ms, incoming.status, incoming.error
  );

INSERT INTO `{{ dataset }}.prediction_log_batch_runs` (scoring_run_id, model_version, scored_at, logged_at)
SELECT p.scoring_run_id, p.model_version, MAX(p.scored_at), CURRENT_TIMESTAMP()
FROM ({{ unlogged_batch_scores('p.scoring_run_id, p.model_version, p.scored_at', incoming_from) }}) AS p
GROUP BY p.scoring_run_id, p.model_version;

COMMIT TRANSACTION;
