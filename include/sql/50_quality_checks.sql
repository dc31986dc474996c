-- Data-quality gate before the snapshot. Each ASSERT names its check in its message; the
-- first failing one stops the flow (a failed BigQuery job on gcp, DataQualityError locally).
ASSERT (SELECT COUNT(*) FROM `{{ dataset }}.{{ training_table }}`) >= {{ dq.min_rows }}
  AS 'dq_min_rows: training_examples has fewer rows than dq.min_rows';

ASSERT (
  SELECT COUNT(*) - COUNT(DISTINCT transaction_id) FROM `{{ dataset }}.{{ training_table }}`
) = 0
  AS 'dq_unique_transaction_id: duplicate transaction ids in training_examples';

ASSERT (
  SELECT
    (SELECT COUNT(*) FROM `{{ dataset }}.stg_transactions` WHERE event_time >= TIMESTAMP '0001-01-01 00:00:00')
    + (SELECT COUNT(*) FROM `{{ dataset }}.rejected_rows`)
    - (SELECT COUNT(*) FROM `{{ dataset }}.raw_transactions`)
    - (SELECT COUNT(*) FROM `{{ dataset }}.rejected_lines`)
) = 0
  AS 'dq_rows_accounted: staging + rejected rows do not add up to raw rows + rejected lines';

ASSERT (
  SELECT COUNTIF({{ entity_key }} IS NULL OR {{ event_time }} IS NULL OR {{ label }} IS NULL OR amount IS NULL)
  FROM `{{ dataset }}.{{ training_table }}`
) = 0
  AS 'dq_required_not_null: null key, event time, label or amount in training_examples';

ASSERT (
  SELECT COUNTIF(seconds_since_prev_txn IS NULL) / COUNT(*) FROM `{{ dataset }}.{{ training_table }}`
) <= {{ dq.max_first_txn_share }}
  AS 'dq_null_rate: too many rows without card history (seconds_since_prev_txn null)';

ASSERT (
  SELECT COUNTIF(
    amount < 0 OR amount > {{ max_amount }}
    OR hour_of_day NOT BETWEEN 0 AND 23
    OR day_of_week NOT BETWEEN 1 AND 7
    OR txn_count_1h < 0 OR txn_count_1h > txn_count_24h OR txn_count_24h > txn_count_7d
  )
  FROM `{{ dataset }}.{{ training_table }}`
) = 0
  AS 'dq_value_ranges: amount, hour, weekday or window counts out of range';

ASSERT (
  SELECT AVG({{ label }}) FROM `{{ dataset }}.{{ training_table }}`
) BETWEEN {{ dq.min_label_rate }} AND {{ dq.max_label_rate }}
  AS 'dq_label_rate: fraud rate outside [dq.min_label_rate, dq.max_label_rate]';

ASSERT (
  SELECT SAFE_DIVIDE(
    (SELECT COUNT(*) FROM `{{ dataset }}.rejected_rows`),
    (SELECT COUNT(*) FROM `{{ dataset }}.raw_transactions`) + (SELECT COUNT(*) FROM `{{ dataset }}.rejected_lines`)
  )
) <= {{ dq.max_reject_rate }}
  AS 'dq_reject_rate: more rejected rows than dq.max_reject_rate (upstream break?)';
