-- Append one loaded file to the raw table, once per file content (idempotent).
-- Rendered per file; @file_* and @run_id are query parameters (file names are user input).
BEGIN TRANSACTION;

INSERT INTO `{{ raw_dataset }}.raw_transactions`
SELECT
{%- for column in landing_columns %}
  l.{{ column }},
{%- endfor %}
  @file_name,
  @file_generation,
  @file_md5,
  @run_id,
  CURRENT_TIMESTAMP()
FROM `{{ raw_dataset }}.{{ load_table }}` AS l
WHERE NOT EXISTS (
  SELECT 1 FROM `{{ dataset }}.ingestion_log` AS g
  WHERE g.file_md5 = @file_md5 AND g.status = 'loaded'
);

INSERT INTO `{{ dataset }}.ingestion_log` (file_name, file_generation, file_md5, status, row_count, run_id, logged_at)
SELECT
  @file_name,
  @file_generation,
  @file_md5,
  CASE
    WHEN EXISTS (
      SELECT 1 FROM `{{ dataset }}.ingestion_log` AS g
      WHERE g.file_md5 = @file_md5 AND g.status = 'loaded'
    ) THEN 'duplicate'
    ELSE 'loaded'
  END,
  (SELECT COUNT(*) FROM `{{ raw_dataset }}.{{ load_table }}`),
  @run_id,
  CURRENT_TIMESTAMP();

COMMIT TRANSACTION;

DROP TABLE IF EXISTS `{{ raw_dataset }}.{{ load_table }}`;
