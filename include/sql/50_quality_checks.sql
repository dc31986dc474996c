-- Data-quality gate on the run's candidates (write-audit-publish): nothing is published,
-- snapshotted or synced unless every ASSERT passes. Each names its check in its message; the
-- first failing one stops the flow (a failed BigQuery job on gcp, DataQualityError locally).
-- The candidates are the increment (new rows, the touched cards' recomputed rows); checks of a
-- whole table's shape (row count, label and null rates, reject rate) run on what publishing
-- would produce: the published rows the increment does not replace, plus the candidates.
{%- from 'macros/training_day_counts.sql' import counted_rows, day_counts, first_changed_day, table_rows with context %}

-- The published day counts add up to the published table (a COUNT(*), which reads no column):
-- 55_publish.sql and 96_erase_card.sql keep them (a table filled before they existed is
-- counted once by the plan step: ingestion/training_days.py).
ASSERT {{ counted_rows() }} = {{ table_rows() }}
  AS 'dq_day_counts: training_day_counts does not add up to training_examples (docs/data_quality.md)';

-- The training table's counts as 55_publish.sql would leave them: the published day counts
-- before the first day it changes, and from that day on the published rows the candidates do
-- not replace plus the candidates. Only those days' partitions are read: reading two columns of
-- every published row cost each run more with every day of history.
CREATE TEMP TABLE after_publish AS
SELECT
  IFNULL(SUM(row_count), 0) AS row_count,
  IFNULL(SUM(label_sum), 0) AS label_sum,
  IFNULL(SUM(no_history_rows), 0) AS no_history_rows
FROM (
  SELECT d.row_count, d.label_sum, d.no_history_rows
  FROM `{{ dataset }}.training_day_counts` AS d
  WHERE d.event_date < DATE({{ first_changed_day() }})
  UNION ALL
  SELECT {{ day_counts('t') }}
  FROM `{{ dataset }}.{{ training_table }}` AS t
  WHERE t.{{ event_time }} >= {{ first_changed_day() }}
    AND t.transaction_id NOT IN (SELECT c.transaction_id FROM `{{ candidate_dataset }}.{{ training_table }}` AS c)
  UNION ALL
  SELECT {{ day_counts('c') }}
  FROM `{{ candidate_dataset }}.{{ training_table }}` AS c
);

ASSERT (SELECT row_count FROM after_publish) >= {{ dq.min_rows }}
  AS 'dq_min_rows: training_examples has fewer rows than dq.min_rows';

ASSERT (
  SELECT COUNT(*) - COUNT(DISTINCT transaction_id) FROM `{{ candidate_dataset }}.{{ training_table }}`
) = 0
  AS 'dq_unique_transaction_id: duplicate transaction ids in training_examples';

-- What the increment's files brought: their raw rows and the lines no load could parse (per
-- increment: raw rows expire after raw_retention_days, published staging keeps them). Counted
-- once for the two checks that divide or balance by them (dq_rows_accounted, dq_reject_rate).
CREATE TEMP TABLE increment_inputs AS
SELECT
  (
    SELECT COUNT(*) FROM `{{ raw_dataset }}.raw_transactions` AS r
    WHERE r._loaded_at >= CAST(@loaded_from AS TIMESTAMP)
      AND r._file_md5 IN (SELECT f.file_md5 FROM `{{ candidate_dataset }}.transform_log` AS f)
  ) AS raw_rows,
  (
    SELECT COUNT(*) FROM `{{ dataset }}.rejected_lines` AS l
    WHERE l.rejected_at >= CAST(@loaded_from AS TIMESTAMP)
      AND l.file_md5 IN (SELECT f.file_md5 FROM `{{ candidate_dataset }}.transform_log` AS f)
  ) AS rejected_lines;

-- Every raw row of the increment's files, and every line no load could parse, is in exactly
-- one of the candidate staging and rejected rows.
ASSERT (
  SELECT
    (SELECT COUNT(*) FROM `{{ candidate_dataset }}.stg_transactions`)
    + (SELECT COUNT(*) FROM `{{ candidate_dataset }}.rejected_rows`)
    - (SELECT raw_rows + rejected_lines FROM increment_inputs)
) = 0
  AS 'dq_rows_accounted: staging + rejected rows do not add up to raw rows + rejected lines';

-- (IFNULL: an increment with nothing new has no candidate rows)
ASSERT (
  SELECT IFNULL(COUNTIF({{ entity_key }} IS NULL OR {{ event_time }} IS NULL OR {{ label }} IS NULL OR amount IS NULL), 0)
  FROM `{{ candidate_dataset }}.{{ training_table }}`
) = 0
  AS 'dq_required_not_null: null key, event time, label or amount in training_examples';

ASSERT (
  SELECT SAFE_DIVIDE(no_history_rows, row_count) FROM after_publish
) <= {{ dq.max_first_txn_share }}
  AS 'dq_null_rate: too many rows without card history (seconds_since_prev_txn null)';

ASSERT (
  SELECT IFNULL(COUNTIF(
    amount < 0 OR amount > {{ max_amount }}
    OR hour_of_day NOT BETWEEN 0 AND 23
    OR day_of_week NOT BETWEEN 1 AND 7
    OR txn_count_1h < 0 OR txn_count_1h > txn_count_24h OR txn_count_24h > txn_count_7d
  ), 0)
  FROM `{{ candidate_dataset }}.{{ training_table }}`
) = 0
  AS 'dq_value_ranges: amount, hour, weekday or window counts out of range';

ASSERT (
  SELECT SAFE_DIVIDE(label_sum, row_count) FROM after_publish
) BETWEEN {{ dq.min_label_rate }} AND {{ dq.max_label_rate }}
  AS 'dq_label_rate: fraud rate outside [dq.min_label_rate, dq.max_label_rate]';

-- The increment's share of rejects: its rejected rows (unparseable lines among them) among its
-- raw rows and lines, as dq_rows_accounted counts them. Over all history it divided every reject
-- ever published by the raw rows, which expire after raw_retention_days: at a steady 1% of
-- rejects it passed 5% after ~150 days and from then on no run published; and a flood in one
-- increment hid among the history's rows. Copies of transactions staged before are not
-- counted: de-duplication is no upstream break, and a re-sent slice is all copies, so its
-- increment failed on every run until the raw rows expired. (IFNULL: nothing new.)
ASSERT (
  SELECT IFNULL(SAFE_DIVIDE(
    (SELECT COUNTIF(reason != 'duplicate_transaction_id') FROM `{{ candidate_dataset }}.rejected_rows`),
    (SELECT raw_rows + rejected_lines FROM increment_inputs)
  ), 0)
) <= {{ dq.max_reject_rate }}
  AS 'dq_reject_rate: more rejected rows than dq.max_reject_rate in this increment (upstream break?)';

DROP TABLE increment_inputs;
DROP TABLE after_publish;
