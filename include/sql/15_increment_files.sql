-- The increment: loaded files staging has not processed yet (their count) and the earliest
-- time one of them was logged (its raw rows were appended in the same transaction).
SELECT MIN(g.logged_at) AS first_logged_at, COUNT(*) AS files
FROM `{{ dataset }}.ingestion_log` AS g
WHERE g.status = 'loaded'
  AND g.file_md5 NOT IN (SELECT t.file_md5 FROM `{{ dataset }}.transform_log` AS t);
