-- The training table's rows as its day counts add them up, and as the table counts them (a
-- COUNT(*), which reads no column on BigQuery). No counts for a table with rows: a warehouse
-- filled before the day counts existed (fraud_mlops/ingestion/training_days.py counts it once).
{%- from 'macros/training_day_counts.sql' import counted_rows, table_rows with context %}
SELECT {{ counted_rows() }} AS counted_rows, {{ table_rows() }} AS table_rows
