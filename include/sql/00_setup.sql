-- Tables the ingestion flow appends to. Idempotent: safe at the start of every run.
-- On gcp the dataset and these tables are also declared in infra/ (OpenTofu).
CREATE SCHEMA IF NOT EXISTS `{{ dataset }}`;

-- Landed rows exactly as they arrived (all STRING), traced to their file.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.raw_transactions` (
{%- for column in landing_columns %}
  {{ column }} STRING,
{%- endfor %}
  _file_name STRING,
  _file_generation STRING,
  _file_md5 STRING,
  _run_id STRING,
  _loaded_at TIMESTAMP
);

-- One row per load attempt; a file's identity is its content hash.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.ingestion_log` (
  file_name STRING,
  file_generation STRING,
  file_md5 STRING,
  status STRING,  -- loaded | duplicate
  row_count INT64,
  run_id STRING,
  logged_at TIMESTAMP
);

-- Lines of loaded files that no CSV load can parse (wrong field count, broken quoting): the
-- file's good rows load, these lines are counted here (never a full card number).
CREATE TABLE IF NOT EXISTS `{{ dataset }}.rejected_lines` (
  file_name STRING,
  file_md5 STRING,
  line_number INT64,
  reason STRING,
  detail STRING,
  transaction_id STRING,
  card_last4 STRING,
  run_id STRING,
  rejected_at TIMESTAMP
);

-- Snapshot name <-> source files <-> row counts <-> DAG run.
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
