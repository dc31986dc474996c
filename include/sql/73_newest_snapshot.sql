-- The newest training snapshot (what a manual training run without a `snapshot` uses).
SELECT snapshot_name
FROM `{{ dataset }}.snapshot_lineage`
ORDER BY created_at DESC, snapshot_name DESC
LIMIT 1
