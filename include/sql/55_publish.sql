-- Publish the checked candidates (write-audit-publish): every published table changes in one
-- transaction, or none does. Runs only after 50_quality_checks.sql passed on the candidates.
-- The candidates are an increment, so each published table has the touched rows replaced
-- (DELETE of the touched keys + INSERT from the candidate) or, for the per-card state tables,
-- merged (MERGE). Idempotent: publishing the same candidates again changes nothing.
-- The partitions: every candidate row's event time is at or after the increment's first new
-- event date, @event_from plus the widest window (the look-back 30_card_features read), so
-- the DELETEs read the increment's days only, not the look-back's (rejected_rows': its files'
-- load days, from @loaded_from).
-- BigQuery allows DML, not DDL, in a multi-statement transaction: the published tables are
-- created by 00_setup.sql. DuckDB runs the same.
{%- from 'macros/training_day_counts.sql' import count_days_from, first_changed_day with context %}
BEGIN TRANSACTION;

-- New staging rows (staging is append-only: a transaction id is staged once).
DELETE FROM `{{ dataset }}.stg_transactions` AS p
WHERE p.event_time >= TIMESTAMP_ADD(CAST(@event_from AS TIMESTAMP), INTERVAL {{ widest_window_seconds }} SECOND)
  AND p.transaction_id IN (SELECT c.transaction_id FROM `{{ candidate_dataset }}.stg_transactions` AS c);
INSERT INTO `{{ dataset }}.stg_transactions`
SELECT * FROM `{{ candidate_dataset }}.stg_transactions`;

-- New rejected rows (those of the increment's files: loaded, or their lines rejected, from
-- @loaded_from on, so only those days are read).
DELETE FROM `{{ dataset }}.rejected_rows` AS p
WHERE p._loaded_at >= CAST(@loaded_from AS TIMESTAMP)
  AND EXISTS (
  SELECT 1 FROM `{{ candidate_dataset }}.rejected_rows` AS c
  WHERE c._file_name = p._file_name AND c._loaded_at = p._loaded_at
);
INSERT INTO `{{ dataset }}.rejected_rows`
  (transaction_id, reason, raw_event_time, raw_amount, card_last4, _file_name, line_number, _loaded_at, rejected_at)
SELECT transaction_id, reason, raw_event_time, raw_amount, card_last4, _file_name, line_number, _loaded_at, rejected_at
FROM `{{ candidate_dataset }}.rejected_rows`;
{%- for table in (features_table, training_table) %}

-- The touched cards' rows from their earliest new second, recomputed.
DELETE FROM `{{ dataset }}.{{ table }}` AS f
WHERE f.{{ event_time }} >= TIMESTAMP_ADD(CAST(@event_from AS TIMESTAMP), INTERVAL {{ widest_window_seconds }} SECOND)
  AND EXISTS (
    SELECT 1 FROM `{{ candidate_dataset }}.feature_scope` AS s
    WHERE s.card_pseudonym = f.{{ entity_key }} AND UNIX_SECONDS(f.{{ event_time }}) >= s.start_ts
  );
INSERT INTO `{{ dataset }}.{{ table }}`
  (transaction_id, {{ entity_key }}, {{ event_time }}, {{ feature_columns }}, {{ label }})
SELECT transaction_id, {{ entity_key }}, {{ event_time }}, {{ feature_columns }}, {{ label }}
FROM `{{ candidate_dataset }}.{{ table }}`;
{%- endfor %}

-- The training table's day counts (what 50_quality_checks.sql reads about the whole table): the
-- days publishing changed, counted again.
DELETE FROM `{{ dataset }}.training_day_counts`
WHERE event_date >= DATE({{ first_changed_day() }});
{{ count_days_from(first_changed_day()) }};

-- The touched cards' latest feature rows and serving state (the feature view's source).
MERGE `{{ dataset }}.{{ latest_features_view }}` AS t
USING `{{ candidate_dataset }}.{{ latest_features_view }}` AS s
ON t.{{ entity_key }} = s.{{ entity_key }}
WHEN MATCHED THEN UPDATE SET
  {{ event_time }} = s.{{ event_time }},
{%- for name, _ in typed_features %}
  {{ name }} = s.{{ name }},
{%- endfor %}
{%- for name, _ in state_columns %}
  {{ name }} = s.{{ name }}{{ "," if not loop.last }}
{%- endfor %}
WHEN NOT MATCHED THEN INSERT (
  {{ entity_key }}, {{ event_time }}, {{ feature_columns }}
{%- for name, _ in state_columns %}, {{ name }}{% endfor %}
) VALUES (
  s.{{ entity_key }}, s.{{ event_time }}
{%- for name, _ in typed_features %}, s.{{ name }}{% endfor %}
{%- for name, _ in state_columns %}, s.{{ name }}{% endfor %}
);

-- The touched cards' merchant state (first second of each merchant and its rows): the
-- candidates hold the increment's changes only (20_staging.sql); publishing them again
-- rewrites nothing.
MERGE `{{ dataset }}.card_merchants` AS t
USING `{{ candidate_dataset }}.card_merchants` AS s
ON t.card_pseudonym = s.card_pseudonym AND t.merchant = s.merchant
WHEN MATCHED AND (t.first_ts != s.first_ts OR t.first_second_rows != s.first_second_rows) THEN UPDATE SET first_ts = s.first_ts, first_second_rows = s.first_second_rows
WHEN NOT MATCHED THEN
  INSERT (card_pseudonym, merchant, first_ts, first_second_rows)
  VALUES (s.card_pseudonym, s.merchant, s.first_ts, s.first_second_rows);

-- The increment's files are transformed: the next increment starts after them. Each run's rows
-- are its own (15_increment_files.sql counts a run's publishes from them): publishing again
-- replaces this run's rows only. Two runs publish one file only when a publish job outlived its
-- run (its lease was taken over while the job ran on); the file then has a row of each, and
-- neither run's count drops (which would give a later clear of it a snapshot name taken).
DELETE FROM `{{ dataset }}.transform_log` AS t
WHERE EXISTS (
  SELECT 1 FROM `{{ candidate_dataset }}.transform_log` AS c
  WHERE c.file_md5 = t.file_md5 AND c.run_id = t.run_id
);
INSERT INTO `{{ dataset }}.transform_log` (file_md5, run_id, transformed_at)
SELECT file_md5, run_id, transformed_at FROM `{{ candidate_dataset }}.transform_log`;

COMMIT TRANSACTION;
