-- Tables the ingestion flow appends to. Idempotent: safe at the start of every run.
-- On gcp the datasets and these tables are also declared in infra/ (OpenTofu).
{%- from 'macros/snapshot_lineage.sql' import create_snapshot_lineage with context %}
-- Three datasets: raw (card numbers in clear; only ingestion reads it), candidates (a run's
-- unchecked outputs) and the curated dataset everything else reads (docs/least_privilege.md).
CREATE SCHEMA IF NOT EXISTS `{{ raw_dataset }}`;
CREATE SCHEMA IF NOT EXISTS `{{ candidate_dataset }}`;
CREATE SCHEMA IF NOT EXISTS `{{ dataset }}`;

-- Landed rows exactly as they arrived (all STRING), traced to their file.
CREATE TABLE IF NOT EXISTS `{{ raw_dataset }}.raw_transactions` (
{%- for column in landing_columns %}
  {{ column }} STRING,
{%- endfor %}
  _file_name STRING,
  _file_generation STRING,
  _file_md5 STRING,
  _run_id STRING,
  _loaded_at TIMESTAMP
);

-- Raw rows live raw_retention_days (on BigQuery the table's partition expiration, infra/,
-- drops them too); derived tables keep only pseudonymised data.
DELETE FROM `{{ raw_dataset }}.raw_transactions`
WHERE _loaded_at < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {{ raw_retention_days }} DAY);

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

-- Snapshot name <-> source files <-> row counts <-> DAG run.
{{ create_snapshot_lineage() }}
