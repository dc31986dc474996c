-- Row counts per layer for the run summary (one row). COUNT(*) reads no column (free on
-- BigQuery). The tables that refuse a query without a partition filter (stg_transactions,
-- card_features) are counted from their metadata instead (Warehouse.row_count): a filter on
-- event_time would read that column of every partition on every run.
SELECT
  (SELECT COUNT(*) FROM `{{ raw_dataset }}.raw_transactions`) AS raw_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.rejected_rows`) AS rejected_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ training_table }}`) AS training_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ latest_features_view }}`) AS cards,
  (SELECT COUNTIF(status = 'loaded') FROM `{{ dataset }}.ingestion_log`) AS files_loaded,
  (SELECT COUNTIF(status = 'duplicate') FROM `{{ dataset }}.ingestion_log`) AS duplicate_landings
