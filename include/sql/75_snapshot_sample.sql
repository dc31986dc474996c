-- A uniform sample of `limit` rows of a training snapshot's feature columns: the training side of
-- the monitoring's train/serve skew check (fraud_mlops/monitoring/windows.py). Not the newest
-- rows: those cover the snapshot's last days only. Locally the snapshot is a Parquet file, read
-- directly.
SELECT {{ feature_columns }}
FROM `{{ snapshot_dataset }}.{{ snapshot }}`
ORDER BY RAND()
LIMIT {{ limit }}
