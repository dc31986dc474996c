-- Immutable, named training snapshot + its lineage row. Idempotent per publish: `snapshot` (the
-- plan names it: sql_templates.snapshot_name) is derived from the run and its publish, and a
-- rerun neither recreates the snapshot nor duplicates lineage.
CREATE SNAPSHOT TABLE IF NOT EXISTS `{{ snapshot_dataset }}.{{ snapshot }}`
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
  -- The snapshot's rows (a COUNT(*), which reads no column on BigQuery) and its frauds as the
  -- training table's day counts add them up (a row a day; labels are 0 or 1), not by reading
  -- the snapshot's label column, which billed 8 bytes of every training row on every run. The
  -- day counts are published with the training table (55_publish.sql): they describe the clone
  -- unless another run published between the two statements, and then the count is NULL
  -- (unknown), never another table's.
  SELECT
    s.row_count,
    IF(d.row_count = s.row_count, d.label_sum, NULL) AS fraud_count
  FROM (SELECT COUNT(*) AS row_count FROM `{{ snapshot_dataset }}.{{ snapshot }}`) AS s
  CROSS JOIN (
    SELECT IFNULL(SUM(c.row_count), 0) AS row_count, IFNULL(SUM(c.label_sum), 0) AS label_sum
    FROM `{{ dataset }}.training_day_counts` AS c
  ) AS d
) AS counts
-- the aggregate always yields a row, so the rerun guard filters outside it
WHERE NOT EXISTS (
  SELECT 1 FROM `{{ dataset }}.snapshot_lineage` WHERE snapshot_name = '{{ snapshot }}'
);
