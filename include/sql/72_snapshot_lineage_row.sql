-- The lineage row of one snapshot.
SELECT snapshot_name, source_table, row_count, fraud_count, source_files, dag_id, run_id, created_at, expires_at
FROM `{{ dataset }}.snapshot_lineage`
WHERE snapshot_name = @snapshot_name
