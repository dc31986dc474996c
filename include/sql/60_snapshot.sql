-- Immutable, named training snapshot + its lineage row. Idempotent per DAG run: the name is
-- derived from the run, and a rerun neither recreates the snapshot nor duplicates lineage.
{%- set snapshot = snapshot_name(dag_run) %}
CREATE SNAPSHOT TABLE IF NOT EXISTS `{{ dataset }}.{{ snapshot }}`
CLONE `{{ dataset }}.{{ training_table }}`
OPTIONS (
  expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {{ snapshot_ttl_days }} DAY)
);

INSERT INTO `{{ dataset }}.snapshot_lineage`
  (snapshot_name, source_table, row_count, fraud_count, source_files, dag_id, run_id, created_at, expires_at)
SELECT
  '{{ snapshot }}',
  '{{ training_table }}',
  counts.row_count,
  counts.fraud_count,
  (
    SELECT ARRAY_AGG(DISTINCT file_name ORDER BY file_name)
    FROM `{{ dataset }}.ingestion_log`
    WHERE status = 'loaded'
  ),
  @dag_id,
  @run_id,
  CURRENT_TIMESTAMP(),
  TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {{ snapshot_ttl_days }} DAY)
FROM (
  SELECT COUNT(*) AS row_count, COUNTIF({{ label }} = 1) AS fraud_count
  FROM `{{ dataset }}.{{ snapshot }}`
) AS counts
-- the aggregate always yields a row, so the rerun guard filters outside it
WHERE NOT EXISTS (
  SELECT 1 FROM `{{ dataset }}.snapshot_lineage` WHERE snapshot_name = '{{ snapshot }}'
);
