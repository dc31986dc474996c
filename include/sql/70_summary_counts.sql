-- Row counts per layer for the run summary (one row). COUNT(*) reads no column (free on
-- BigQuery); the all-partitions filter satisfies require_partition_filter.
SELECT
  (SELECT COUNT(*) FROM `{{ raw_dataset }}.raw_transactions`) AS raw_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.stg_transactions` WHERE event_time >= TIMESTAMP '0001-01-01 00:00:00') AS staging_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.rejected_rows`) AS rejected_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ features_table }}` WHERE event_time >= TIMESTAMP '0001-01-01 00:00:00') AS feature_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ training_table }}`) AS training_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ latest_features_view }}`) AS cards,
  (SELECT COUNTIF(status = 'loaded') FROM `{{ dataset }}.ingestion_log`) AS files_loaded,
  (SELECT COUNTIF(status = 'duplicate') FROM `{{ dataset }}.ingestion_log`) AS duplicate_landings
