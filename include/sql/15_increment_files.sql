-- The increment: loaded files staging has not processed yet (their count) and the earliest
-- time one of them was logged (its raw rows were appended in the same transaction); and how
-- many files this DAG run published already (a cleared run that published before it failed:
-- its snapshot and feature sync run again, ingestion/increment.py).
SELECT i.first_logged_at, i.files, p.published_by_run
FROM (
  SELECT MIN(g.logged_at) AS first_logged_at, COUNT(*) AS files
  FROM `{{ dataset }}.ingestion_log` AS g
  WHERE g.status = 'loaded'
    AND g.file_md5 NOT IN (SELECT t.file_md5 FROM `{{ dataset }}.transform_log` AS t)
) AS i
CROSS JOIN (
  SELECT COUNT(*) AS published_by_run
  FROM `{{ dataset }}.transform_log`
  WHERE run_id = @run_id
) AS p;
