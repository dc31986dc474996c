-- Monitoring: the answers served online in one window [start, end), with the features the model
-- saw (JSON) and its score. start/end are RFC 3339 instants rendered by the monitoring task
-- (fraud_mlops/monitoring/windows.py), never user input. A window with more than `limit` rows
-- gives a uniform sample of them, not its newest (its last hours on a busy day).
SELECT logged_at, model_version, score, features
FROM `{{ dataset }}.prediction_log`
WHERE source = 'online'
  AND status = 200
  AND features IS NOT NULL
  AND logged_at >= TIMESTAMP('{{ start }}')
  AND logged_at < TIMESTAMP('{{ end }}')
ORDER BY RAND()
LIMIT {{ limit }}
