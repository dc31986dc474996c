-- Tables the ingestion flow appends to. Idempotent: safe at the start of every run.
-- On gcp the datasets and these tables are also declared in infra/ (OpenTofu).
{%- from 'macros/snapshot_lineage.sql' import create_snapshot_lineage with context %}
-- Four datasets: raw (card numbers in clear; only ingestion reads it), candidates (a run's
-- unchecked outputs), the curated dataset everything else reads and the snapshot dataset, the
-- training snapshots (60_snapshot.sql), which training reads (docs/least_privilege.md).
-- Datasets are infrastructure: infra/ creates them on gcp, where this SQL's account may not
-- (CREATE SCHEMA needs bigquery.datasets.create on the project, even IF NOT EXISTS); the local
-- warehouse makes a dataset's schema with its first table (warehouse/hook.py).

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
)
PARTITION BY DATE(_loaded_at);

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
)
PARTITION BY DATE(logged_at);

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
)
PARTITION BY DATE(rejected_at);

-- The derived tables, maintained incrementally (20/30/40): each run processes only the files it
-- has not transformed yet and the event dates their rows touch. Partitioned by event date and
-- clustered by card; every read of the big ones names its partitions (require_partition_filter).
-- DuckDB (local) ignores PARTITION BY / CLUSTER BY / OPTIONS: there, increments append in date
-- order and its per-row-group min/max indexes skip what a filter excludes.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.stg_transactions` (
  transaction_id STRING,
  event_time TIMESTAMP,
  card_pseudonym STRING,
  merchant STRING,
  merchant_category STRING,
  time_seconds FLOAT64,
{%- for v in v_components %}
  {{ v }} FLOAT64,
{%- endfor %}
  amount NUMERIC,
  is_fraud INT64,
  _file_name STRING,
  _loaded_at TIMESTAMP
)
PARTITION BY DATE(event_time)
CLUSTER BY card_pseudonym
OPTIONS (require_partition_filter = TRUE);

CREATE TABLE IF NOT EXISTS `{{ dataset }}.rejected_rows` (
  transaction_id STRING,
  reason STRING,
  raw_event_time STRING,
  raw_amount STRING,
  card_last4 STRING,
  _file_name STRING,
  line_number INT64,
  _loaded_at TIMESTAMP,
  rejected_at TIMESTAMP
)
PARTITION BY DATE(_loaded_at);

{#- One transaction's feature row: the columns card_features and training_examples share. -#}
{%- macro feature_row_columns() %}
  transaction_id STRING,
  card_pseudonym STRING,
  event_time TIMESTAMP,
{%- for name, type in typed_features %}
  {{ name }} {{ type }},
{%- endfor %}
  is_fraud INT64
{%- endmacro %}

CREATE TABLE IF NOT EXISTS `{{ dataset }}.{{ features_table }}` (
{{- feature_row_columns() }}
)
PARTITION BY DATE(event_time)
CLUSTER BY card_pseudonym
OPTIONS (require_partition_filter = TRUE);

-- What snapshots clone and training reads whole: partitioned, no partition filter required.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.{{ training_table }}` (
{{- feature_row_columns() }}
)
PARTITION BY DATE(event_time)
CLUSTER BY card_pseudonym;

-- The training table's rows per UTC event date (all of them, their label sum, those without card
-- history): what the checks about the whole table read (macros/training_day_counts.sql).
CREATE TABLE IF NOT EXISTS `{{ dataset }}.training_day_counts` (
  event_date DATE,
  row_count INT64,
  label_sum INT64,
  no_history_rows INT64
);

-- Each card's latest feature row and serving state (the feature view's source; features.py
-- CardState), maintained by 55_publish.sql: the touched cards' rows replaced.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.{{ latest_features_view }}` (
  card_pseudonym STRING,
  event_time TIMESTAMP,
{%- for name, type in typed_features %}
  {{ name }} {{ type }},
{%- endfor %}
{%- for name, type in state_columns %}
  {{ name }} {{ type }}{{ "," if not loop.last }}
{%- endfor %}
)
CLUSTER BY card_pseudonym;

-- Per (card, merchant): the first second the card used the merchant and how many of its rows
-- fall on that second. is_new_merchant and merchants_seen (features over all of a card's
-- history) follow from it exactly, whatever order files arrive in; maintained with MERGE.
CREATE TABLE IF NOT EXISTS `{{ dataset }}.card_merchants` (
  card_pseudonym STRING,
  merchant STRING,
  first_ts INT64,
  first_second_rows INT64
)
CLUSTER BY card_pseudonym;

-- Files whose rows staging has processed (the increment is every loaded file not in here).
CREATE TABLE IF NOT EXISTS `{{ dataset }}.transform_log` (
  file_md5 STRING,
  run_id STRING,
  transformed_at TIMESTAMP
);

{#- A table of named one-row locks (name plus three columns), its row seeded once. #}
{%- macro one_row_table(table, name, columns) %}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.{{ table }}` (
  name STRING,
{%- for column, type in columns %}
  {{ column }} {{ type }}{{ "," if not loop.last }}
{%- endfor %}
);
INSERT INTO `{{ dataset }}.{{ table }}` (name{% for column, _ in columns %}, {{ column }}{% endfor %})
SELECT '{{ name }}'{% for _, type in columns %}, CAST(NULL AS {{ type }}){% endfor %}
FROM (SELECT 1 AS one) AS seed
WHERE NOT EXISTS (SELECT 1 FROM `{{ dataset }}.{{ table }}` AS l WHERE l.name = '{{ name }}');
{%- endmacro %}

-- The transform lease: which DAG run may read landed files, build candidates, publish and sync
-- (at most one at a time, whichever ingestion DAG it belongs to: they share the candidate
-- tables; and no ingestion run during an erasure). One row, seeded here; 13 claims it, 14 gives
-- it back (fraud_mlops/ingestion/transform_lease.py, fraud_mlops/orchestration/lease.py).
{{- one_row_table('transform_lease', 'transform',
    [('holder_dag_id', 'STRING'), ('holder_run_id', 'STRING'), ('claimed_at', 'TIMESTAMP')]) }}

-- The append lock: one row that 10_append_raw.sql updates inside its transaction, so two tries of
-- one append whose jobs overlap in time conflict and one of them fails (only appends write it:
-- nothing else contends for it). It also says which file was appended last.
{{- one_row_table('append_lock', 'append', [('file_md5', 'STRING'), ('run_id', 'STRING'), ('appended_at', 'TIMESTAMP')]) }}

-- Snapshot name <-> source files <-> row counts <-> DAG run.
{{ create_snapshot_lineage() }}
