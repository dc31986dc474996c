-- The training snapshot of a model version that still serves (the champion a training run's
-- gate compared against), while it is still kept. The training DAG renews its expiry with
-- 91_keep_model_snapshot.sql on every run, so the data behind a champion is kept
-- model_retention_days after the last run it was champion in, not only after its registration:
-- the versions live in the model store without a lifecycle. A snapshot that lineage no longer
-- holds as unexpired is not renewed (it is gone, or was never recorded).
SELECT m.snapshot_name
FROM `{{ dataset }}.model_lineage` AS m
JOIN `{{ dataset }}.snapshot_lineage` AS s
  ON s.snapshot_name = m.snapshot_name
WHERE m.model_name = @model_name
  AND m.model_version = @model_version
  AND s.expires_at > CURRENT_TIMESTAMP()
ORDER BY m.recorded_at DESC
LIMIT 1
