-- Row counts per layer for the run summary (one row).
SELECT
  (SELECT COUNT(*) FROM `{{ raw_dataset }}.raw_transactions`) AS raw_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.stg_transactions`) AS staging_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.rejected_rows`) AS rejected_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ features_table }}`) AS feature_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ training_table }}`) AS training_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ latest_features_view }}`) AS cards,
  (SELECT COUNTIF(status = 'loaded') FROM `{{ dataset }}.ingestion_log`) AS files_loaded,
  (SELECT COUNTIF(status = 'duplicate') FROM `{{ dataset }}.ingestion_log`) AS duplicate_landings
