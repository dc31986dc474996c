-- The newest `limit` rows of a training snapshot's feature columns: the training side of the
-- monitoring's train/serve skew check (fraud_mlops/monitoring/windows.py), newest first as
-- training's test split is. Locally the snapshot is a Parquet file, read directly.
SELECT {{ feature_columns }}
FROM `{{ dataset }}.{{ snapshot }}`
ORDER BY {{ event_time }} DESC
LIMIT {{ limit }}
