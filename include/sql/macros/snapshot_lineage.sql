{#- snapshot_lineage's definition, shared by 00_setup.sql and 91_keep_model_snapshot.sql (a model
    may be trained on a snapshot no ingestion run recorded, e.g. one written by hand locally). -#}
{%- macro create_snapshot_lineage() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.snapshot_lineage` (
  snapshot_name STRING,
  source_table STRING,
  row_count INT64,
  fraud_count INT64,
  source_files ARRAY<STRING>,
  dag_id STRING,
  run_id STRING,
  created_at TIMESTAMP,
  expires_at TIMESTAMP
);
{%- endmacro %}
