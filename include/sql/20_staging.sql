-- raw -> staging (typed, valid, deduplicated, pseudonymised) and rejected_rows (with reasons),
-- for the increment only: the raw rows of loaded files not yet in transform_log. Every raw row
-- (and every unparseable line) ends up in exactly one of the two (50_quality_checks.sql).
-- Outputs are candidates (candidate_dataset): the increment's new staging and rejected rows,
-- its files (transform_log), its cards with their earliest new second (feature_scope) and the
-- changes to their merchant state (card_merchants); 55_publish.sql publishes
-- them once 50_quality_checks.sql passes. Raw card numbers are read from raw_dataset only.
-- @loaded_from / @event_from come from the planning step (fraud_mlops/ingestion/increment.py);
-- they are constants, so BigQuery reads only the partitions they name. A failed run published
-- nothing (not even transform_log): the next run's increment holds its files again.
-- Same results as a full refresh of all history (tests/reference/full_refresh/, equivalence test).
{%- from 'macros/luhn.sql' import luhn_sum %}
{%- from 'macros/pseudonym.sql' import card_pseudonym with context %}

CREATE OR REPLACE TABLE `{{ candidate_dataset }}.transform_log` AS
SELECT g.file_md5, CAST(@run_id AS STRING) AS run_id, CURRENT_TIMESTAMP() AS transformed_at
FROM `{{ dataset }}.ingestion_log` AS g
WHERE g.status = 'loaded'
  AND g.logged_at >= CAST(@loaded_from AS TIMESTAMP)
  AND g.file_md5 NOT IN (SELECT t.file_md5 FROM `{{ dataset }}.transform_log` AS t);

CREATE TEMP TABLE checked AS
WITH increment AS (
  SELECT *
  FROM `{{ raw_dataset }}.raw_transactions`
  WHERE _loaded_at >= CAST(@loaded_from AS TIMESTAMP)
    AND _file_md5 IN (SELECT file_md5 FROM `{{ candidate_dataset }}.transform_log`)
),
card_checks AS (
  -- Card numbers are checked and pseudonymised once per distinct number, not once per row: a
  -- card has many rows (a 1M-row file has ~40k cards), and per row the Luhn sum alone cost
  -- 4 CPU-s and the pseudonyms 3 CPU-s a million rows (bench/bench_transform.py).
  SELECT
    card_number,
    card_digits,
    REGEXP_CONTAINS(card_digits, r'^[0-9]{12,19}$') AS well_formed,
    MOD({{ luhn_sum('REVERSE(card_digits)') }}, 10) = 0 AS checksum_ok
  FROM (
    SELECT DISTINCT IFNULL(card_number, '') AS card_number, REGEXP_REPLACE(IFNULL(card_number, ''), r'[ -]', '') AS card_digits
    FROM increment
  )
),
cards AS (
  SELECT
    *,
    -- Keyed with a KMS-wrapped Tink keyset: BigQuery asks Cloud KMS to unwrap it for this query;
    -- the text holds only ciphertext (macros/pseudonym.sql, docs/least_privilege.md).
    IF(well_formed AND checksum_ok, {{ card_pseudonym('card_digits') }}, NULL) AS card_pseudonym
  FROM card_checks
),
parsed AS (
  SELECT
    NULLIF(TRIM(i.transaction_id), '') AS transaction_id,
    SAFE_CAST(i.event_time AS TIMESTAMP) AS event_time,
    c.card_digits,
    c.well_formed,
    c.checksum_ok,
    c.card_pseudonym,
    NULLIF(TRIM(i.merchant), '') AS merchant,
    NULLIF(TRIM(i.merchant_category), '') AS merchant_category,
    SAFE_CAST(i.time AS FLOAT64) AS time_seconds,
{%- for v in v_components %}
    SAFE_CAST(i.{{ v }} AS FLOAT64) AS {{ v }},
{%- endfor %}
    SAFE_CAST(i.amount AS NUMERIC) AS amount,
    SAFE_CAST(i.class AS INT64) AS is_fraud,
    i.event_time AS raw_event_time,
    i.amount AS raw_amount,
    i._file_name,
    i._loaded_at
  FROM increment AS i
  JOIN cards AS c ON c.card_number = IFNULL(i.card_number, '')
),
validated AS (
SELECT
  *,
  CASE
    WHEN transaction_id IS NULL THEN 'missing_transaction_id'
    WHEN event_time IS NULL THEN 'bad_event_time'
    WHEN event_time > TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 5 MINUTE) THEN 'future_event_time'
    WHEN event_time < TIMESTAMP '{{ earliest_event_time }}' THEN 'ancient_event_time'
    WHEN NOT well_formed THEN 'bad_card_number'
    WHEN NOT checksum_ok THEN 'bad_card_checksum'
    WHEN merchant IS NULL THEN 'missing_merchant'
    WHEN amount IS NULL THEN 'bad_amount'
    WHEN amount < 0 THEN 'negative_amount'
    WHEN amount > {{ max_amount }} THEN 'absurd_amount'
    WHEN is_fraud IS NULL OR is_fraud NOT IN (0, 1) THEN 'bad_label'
    WHEN time_seconds IS NULL
{%- for v in v_components %} OR {{ v }} IS NULL{% endfor %} THEN 'bad_numeric_field'
  END AS reject_reason
FROM parsed
)
SELECT
  *,
  -- The valid copy from the earliest-loaded file wins (copies inside one file have no defined
  -- order: a load keeps none). Rejected rows are not numbered: among them the order would be
  -- arbitrary, and the same rows would get other numbers on another engine or run.
  IF(
    reject_reason IS NULL,
    ROW_NUMBER() OVER (PARTITION BY IF(reject_reason IS NULL, transaction_id, NULL) ORDER BY _loaded_at, _file_name),
    NULL
  ) AS valid_copy_number
FROM validated;

-- Earlier increments were loaded earlier, so a transaction id already in staging wins over
-- every new copy. By default transaction ids are unique across all history: the one read of all
-- staging partitions (of one column), which grows with history. With a dedup horizon
-- (settings: MLOPS_DEDUP_HORIZON_DAYS) only the staged ids from that many days before the
-- increment's look-back are read: a re-sent row (same event time) is still caught, an id
-- re-used for an event further back is not (docs/ingestion.md).
CREATE TEMP TABLE staged_before AS
SELECT DISTINCT c.transaction_id
FROM checked AS c
JOIN `{{ dataset }}.stg_transactions` AS s ON s.transaction_id = c.transaction_id
WHERE c.reject_reason IS NULL
  AND c.valid_copy_number = 1
{%- if dedup_horizon_days is none %}
  AND s.event_time >= TIMESTAMP '0001-01-01 00:00:00';  -- every partition, deliberately
{%- else %}
  AND s.event_time >= TIMESTAMP_SUB(CAST(@event_from AS TIMESTAMP), INTERVAL {{ dedup_horizon_days }} DAY);
{%- endif %}

CREATE OR REPLACE TABLE `{{ candidate_dataset }}.stg_transactions` AS
SELECT
  transaction_id,
  event_time,
  card_pseudonym,
  merchant,
  merchant_category,
  time_seconds,
{%- for v in v_components %}
  {{ v }},
{%- endfor %}
  amount,
  is_fraud,
  _file_name,
  _loaded_at
FROM checked
WHERE reject_reason IS NULL
  AND valid_copy_number = 1
  AND transaction_id NOT IN (SELECT b.transaction_id FROM staged_before AS b);

CREATE OR REPLACE TABLE `{{ candidate_dataset }}.rejected_rows` AS
SELECT
  transaction_id,
  IFNULL(reject_reason, 'duplicate_transaction_id') AS reason,
  raw_event_time,
  raw_amount,
  -- never keep a full card number outside raw: the last four digits are enough to debug
  RIGHT(card_digits, 4) AS card_last4,
  _file_name,
  CAST(NULL AS INT64) AS line_number,
  _loaded_at,
  CURRENT_TIMESTAMP() AS rejected_at
FROM checked
WHERE reject_reason IS NOT NULL
  OR valid_copy_number > 1
  OR transaction_id IN (SELECT b.transaction_id FROM staged_before AS b)
UNION ALL
-- Lines no load could parse (validation found them; the load skipped them): file + line number.
SELECT
  l.transaction_id,
  l.reason,
  CAST(NULL AS STRING) AS raw_event_time,
  CAST(NULL AS STRING) AS raw_amount,
  l.card_last4,
  l.file_name AS _file_name,
  l.line_number,
  l.rejected_at AS _loaded_at,
  CURRENT_TIMESTAMP() AS rejected_at
FROM `{{ dataset }}.rejected_lines` AS l
WHERE l.rejected_at >= CAST(@loaded_from AS TIMESTAMP)
  AND l.file_md5 IN (SELECT file_md5 FROM `{{ candidate_dataset }}.transform_log`);

-- Where the card features must be recomputed: each card with new rows, from its earliest one.
CREATE OR REPLACE TABLE `{{ candidate_dataset }}.feature_scope` AS
SELECT card_pseudonym, MIN(UNIX_SECONDS(event_time)) AS start_ts
FROM `{{ candidate_dataset }}.stg_transactions`
GROUP BY card_pseudonym;

-- The increment's changes to the touched cards' merchant state (the first second each (card,
-- merchant) was used, and its rows on that second): merchants new to the card, first uses
-- earlier than the published one (a late file replaces it), and more rows on the published
-- first second (added to them). Only changes are candidates: a card's merchant state grows with
-- its life, and re-reading it whole every run cost more with every day of history.
-- 30_card_features.sql reads the rest from the published table; 55_publish.sql merges these.
CREATE OR REPLACE TABLE `{{ candidate_dataset }}.card_merchants` AS
WITH increment_firsts AS (
  SELECT card_pseudonym, merchant, ts AS first_ts, COUNT(*) AS first_second_rows
  FROM (
    SELECT
      card_pseudonym,
      merchant,
      UNIX_SECONDS(event_time) AS ts,
      MIN(UNIX_SECONDS(event_time)) OVER (PARTITION BY card_pseudonym, merchant) AS min_ts
    FROM `{{ candidate_dataset }}.stg_transactions`
  )
  WHERE ts = min_ts
  GROUP BY card_pseudonym, merchant, ts
),
published AS (
  SELECT m.card_pseudonym, m.merchant, m.first_ts, m.first_second_rows
  FROM `{{ dataset }}.card_merchants` AS m
  WHERE m.card_pseudonym IN (SELECT c.card_pseudonym FROM `{{ candidate_dataset }}.feature_scope` AS c)
)
SELECT
  i.card_pseudonym,
  i.merchant,
  i.first_ts,
  CAST(i.first_second_rows + IF(p.first_ts = i.first_ts, p.first_second_rows, 0) AS INT64) AS first_second_rows
FROM increment_firsts AS i
LEFT JOIN published AS p ON p.card_pseudonym = i.card_pseudonym AND p.merchant = i.merchant
WHERE p.first_ts IS NULL OR i.first_ts <= p.first_ts;

DROP TABLE staged_before;
DROP TABLE checked;
