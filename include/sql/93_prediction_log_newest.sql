-- gcp only (fraud_mlops/prediction_log/store.py CloudPredictionLog): the newest online answer the
-- prediction log already holds. The next copy from the log sink (88_prediction_log_sink.sql)
-- starts an overlap before it, not a fixed time before now: after a Composer outage or a paused
-- DAG longer than that, a fixed look-back lost every entry routed meanwhile, though the sink's
-- table still kept them. Every day's logged_at and source: the newest answer may lie on any day.
SELECT MAX(logged_at) AS newest
FROM `{{ dataset }}.prediction_log`
WHERE source = 'online'
