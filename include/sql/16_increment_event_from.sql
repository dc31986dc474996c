-- The earliest event time the increment touches: its new raw rows (any parseable event time
-- staging does not reject as ancient, a lower bound of the rows staging will keep). A run that
-- failed published nothing (not even transform_log), so the next run's increment holds its
-- files again.
SELECT IFNULL((
  SELECT MIN(SAFE_CAST(r.event_time AS TIMESTAMP))
  FROM `{{ raw_dataset }}.raw_transactions` AS r
  WHERE r._loaded_at >= CAST(@loaded_from AS TIMESTAMP)
    AND SAFE_CAST(r.event_time AS TIMESTAMP) >= TIMESTAMP '{{ earliest_event_time }}'
    AND r._file_md5 IN (
      SELECT g.file_md5 FROM `{{ dataset }}.ingestion_log` AS g
      WHERE g.status = 'loaded'
        AND g.logged_at >= CAST(@loaded_from AS TIMESTAMP)
        AND g.file_md5 NOT IN (SELECT t.file_md5 FROM `{{ dataset }}.transform_log` AS t)
    )
), TIMESTAMP '9999-12-31 00:00:00') AS first_event_time;
