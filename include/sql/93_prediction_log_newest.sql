-- gcp only (fraud_mlops/prediction_log/store.py CloudPredictionLog): the newest online answer the
-- prediction log already holds from {{ since }} on. The next copy from the log sink
-- (88_prediction_log_sink.sql) starts an overlap before it, not a fixed time before now: after a
-- Composer outage or a paused DAG longer than that, a fixed look-back lost every entry routed
-- meanwhile, though the sink's table still kept them. `since` is a constant, so BigQuery reads
-- only those days: the recent days first, every day only when they hold no online answer.
SELECT MAX(logged_at) AS newest
FROM `{{ dataset }}.prediction_log`
WHERE logged_at >= TIMESTAMP('{{ since }}')
  AND source = 'online'
