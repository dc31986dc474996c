-- The training table's rows as its day counts add them up, and as the table counts them (a
-- COUNT(*), which reads no column on BigQuery). No counts for a table with rows: a warehouse
-- filled before the day counts existed (fraud_mlops/ingestion/training_days.py counts it once).
SELECT
  (SELECT IFNULL(SUM(d.row_count), 0) FROM `{{ dataset }}.training_day_counts` AS d) AS counted_rows,
  (SELECT COUNT(*) FROM `{{ dataset }}.{{ training_table }}`) AS table_rows
