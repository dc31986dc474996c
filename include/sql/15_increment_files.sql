-- The increment: loaded files staging has not processed yet (their count), the earliest time
-- one of them was logged (its raw rows were appended in the same transaction) and how many of
-- them this DAG run loaded; and how many files this DAG run published already, in how many
-- publishes (a cleared run that published before it failed: its snapshot and feature sync run
-- again; each publish has its own snapshot, and every file of one publish its transformed_at).
-- What a run that loaded no file does with them: ingestion/increment.py.
SELECT i.first_logged_at, i.files, i.loaded_by_run, p.published_by_run, p.publishes_by_run
FROM (
  SELECT MIN(g.logged_at) AS first_logged_at, COUNT(*) AS files, COUNTIF(g.run_id = @run_id) AS loaded_by_run
  FROM `{{ dataset }}.ingestion_log` AS g
  WHERE g.status = 'loaded'
    AND g.file_md5 NOT IN (SELECT t.file_md5 FROM `{{ dataset }}.transform_log` AS t)
) AS i
CROSS JOIN (
  SELECT COUNT(*) AS published_by_run, COUNT(DISTINCT transformed_at) AS publishes_by_run
  FROM `{{ dataset }}.transform_log`
  WHERE run_id = @run_id
) AS p;
