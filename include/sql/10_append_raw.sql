-- Append one loaded file to the raw table, once per file content (idempotent).
-- Rendered per file; raw rows and load tables live in the raw dataset (card numbers), rejected
-- lines keep only the last four digits.
-- @file_* and @run_id are query parameters (file names are user input).
-- The load skipped exactly the lines validation found unparseable (BigQuery: maxBadRecords is
-- their count; DuckDB: they are filtered out): the load table must hold every other row.
-- Safe to run again: a retry of an append that finished (its task lost before it recorded
-- success; on gcp every try submits a new job) finds its per-file tables dropped by the first
-- run of this script. They are made again, empty, and the append is taken as done when this run
-- logged this file already: nothing is appended or logged twice. Before, the retry failed on the
-- missing table on every try, the run failed, and the next run logged the file a duplicate of
-- itself.
{%- set reject_table = reject_table | default(none) %}
{#- This file's content was loaded before, by any run: its rows are in raw (a duplicate). #}
{%- macro content_loaded() -%}
SELECT 1 FROM `{{ dataset }}.ingestion_log` AS g WHERE g.file_md5 = @file_md5 AND g.status = 'loaded'
{%- endmacro %}
{#- This run logged this file (this generation) already: a retry of an append that finished. #}
{%- macro logged_by_this_run() -%}
SELECT 1 FROM `{{ dataset }}.ingestion_log` AS g
    WHERE g.file_name = @file_name AND g.file_generation = @file_generation
      AND g.file_md5 = @file_md5 AND g.run_id = @run_id
{%- endmacro %}
CREATE TABLE IF NOT EXISTS `{{ raw_dataset }}.{{ load_table }}` (
{%- for column in landing_columns %}
  {{ column }} STRING{{ "," if not loop.last }}
{%- endfor %}
);
{%- if reject_table %}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.{{ reject_table }}` (
  line_number INT64, reason STRING, detail STRING, transaction_id STRING, card_last4 STRING
);
{%- endif %}

ASSERT (SELECT COUNT(*) FROM `{{ raw_dataset }}.{{ load_table }}`) = CAST(@expected_rows AS INT64)
  OR EXISTS (
    {{ logged_by_this_run() }}
  )
  AS 'load_row_count: the load table does not hold the rows validation counted as good';

BEGIN TRANSACTION;

-- Two tries of this append whose jobs overlap in time (a retry submitted while the first try's
-- job still runs) must not both commit: each reads a snapshot without the other's log row, and
-- transactions that only insert commit side by side. Transactions that mutate rows of the same
-- table conflict: BigQuery cancels one of them ("Transaction concurrency", cloud.google.com/
-- bigquery/docs/transactions), DuckDB fails the second writer of the row. So each updates the
-- append lock's one row (new values: DuckDB skips an update to the same value, and with it the
-- conflict); the failed try's retry then finds the file logged by this run. Only appends write
-- that table (they run one at a time, under the transform lease), so no other job contends.
UPDATE `{{ dataset }}.append_lock`
SET file_md5 = @file_md5, run_id = @run_id, appended_at = CURRENT_TIMESTAMP()
WHERE name = 'append';

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
  {{ content_loaded() }}
);
{%- if reject_table %}

INSERT INTO `{{ dataset }}.rejected_lines`
  (file_name, file_md5, line_number, reason, detail, transaction_id, card_last4, run_id, rejected_at)
SELECT @file_name, @file_md5, r.line_number, r.reason, r.detail, r.transaction_id, r.card_last4, @run_id,
  CURRENT_TIMESTAMP()
FROM `{{ dataset }}.{{ reject_table }}` AS r
WHERE NOT EXISTS (
  {{ content_loaded() }}
);
{%- endif %}

INSERT INTO `{{ dataset }}.ingestion_log` (file_name, file_generation, file_md5, status, row_count, run_id, logged_at)
SELECT
  @file_name,
  @file_generation,
  @file_md5,
  CASE
    WHEN EXISTS (
      {{ content_loaded() }}
    ) THEN 'duplicate'
    ELSE 'loaded'
  END,
  (SELECT COUNT(*) FROM `{{ raw_dataset }}.{{ load_table }}`),
  @run_id,
  CURRENT_TIMESTAMP()
FROM (SELECT 1 AS one)  -- BigQuery takes no WHERE without a FROM
WHERE NOT EXISTS (  -- this run logged this file already: a retry of a finished append
  {{ logged_by_this_run() }}
);

COMMIT TRANSACTION;

DROP TABLE IF EXISTS `{{ raw_dataset }}.{{ load_table }}`;
{%- if reject_table %}
DROP TABLE IF EXISTS `{{ dataset }}.{{ reject_table }}`;
{%- endif %}
