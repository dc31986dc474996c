-- raw -> staging (typed, valid, deduplicated, pseudonymised) and rejected_rows (with reasons),
-- for the increment only: the raw rows of loaded files not yet in transform_log. Every raw row
-- (and every unparseable line) ends up in exactly one of the two (50_quality_checks.sql).
-- @loaded_from / @event_from come from the planning step (fraud_mlops/ingestion/increment.py);
-- they are constants, so BigQuery reads only the partitions they name. Rerunning the step
-- after it committed finds no new file and changes nothing.
-- Same results as a full refresh of all history (tests/reference/full_refresh/, equivalence test).
{%- from 'macros/luhn.sql' import luhn_sum %}
{%- set pads = hmac_pads() %}

CREATE TEMP TABLE batch_files AS
SELECT g.file_md5
FROM `{{ dataset }}.ingestion_log` AS g
WHERE g.status = 'loaded'
  AND g.logged_at >= CAST(@loaded_from AS TIMESTAMP)
  AND g.file_md5 NOT IN (SELECT t.file_md5 FROM `{{ dataset }}.transform_log` AS t);

CREATE TEMP TABLE checked AS
WITH parsed AS (
  SELECT
    NULLIF(TRIM(transaction_id), '') AS transaction_id,
    SAFE_CAST(event_time AS TIMESTAMP) AS event_time,
    REGEXP_REPLACE(IFNULL(card_number, ''), r'[ -]', '') AS card_digits,
    REVERSE(REGEXP_REPLACE(IFNULL(card_number, ''), r'[ -]', '')) AS card_digits_reversed,
    NULLIF(TRIM(merchant), '') AS merchant,
    NULLIF(TRIM(merchant_category), '') AS merchant_category,
    SAFE_CAST(time AS FLOAT64) AS time_seconds,
{%- for v in v_components %}
    SAFE_CAST({{ v }} AS FLOAT64) AS {{ v }},
{%- endfor %}
    SAFE_CAST(amount AS NUMERIC) AS amount,
    SAFE_CAST(class AS INT64) AS is_fraud,
    event_time AS raw_event_time,
    amount AS raw_amount,
    _file_name,
    _loaded_at
  FROM `{{ dataset }}.raw_transactions`
  WHERE _loaded_at >= CAST(@loaded_from AS TIMESTAMP)
    AND _file_md5 IN (SELECT file_md5 FROM batch_files)
),
validated AS (
SELECT
  *,
  CASE
    WHEN transaction_id IS NULL THEN 'missing_transaction_id'
    WHEN event_time IS NULL THEN 'bad_event_time'
    WHEN event_time > TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 5 MINUTE) THEN 'future_event_time'
    WHEN NOT REGEXP_CONTAINS(card_digits, r'^[0-9]{12,19}$') THEN 'bad_card_number'
    WHEN MOD({{ luhn_sum('card_digits_reversed') }}, 10) != 0 THEN 'bad_card_checksum'
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
  -- order: a load keeps none).
  ROW_NUMBER() OVER (
    PARTITION BY IF(reject_reason IS NULL, transaction_id, NULL)
    ORDER BY _loaded_at, _file_name
  ) AS valid_copy_number
FROM validated;

-- Earlier increments were loaded earlier, so a transaction id already in staging wins over
-- every new copy: the one read of all staging partitions, and of one column (transaction ids
-- are unique across all history).
CREATE TEMP TABLE staged_before AS
SELECT DISTINCT c.transaction_id
FROM checked AS c
JOIN `{{ dataset }}.stg_transactions` AS s ON s.transaction_id = c.transaction_id
WHERE c.reject_reason IS NULL
  AND c.valid_copy_number = 1
  AND s.event_time >= TIMESTAMP '0001-01-01 00:00:00';  -- every partition, deliberately

CREATE TEMP TABLE staged AS
SELECT
  transaction_id,
  event_time,
  TO_HEX(SHA256(CONCAT(
    FROM_HEX('{{ pads.opad_hex }}'),
    SHA256(CONCAT(FROM_HEX('{{ pads.ipad_hex }}'), CAST(card_digits AS BYTES)))
  ))) AS card_pseudonym,
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

BEGIN TRANSACTION;

INSERT INTO `{{ dataset }}.stg_transactions`
SELECT * FROM staged;

INSERT INTO `{{ dataset }}.rejected_rows`
  (transaction_id, reason, raw_event_time, raw_amount, card_last4, _file_name, line_number, _loaded_at, rejected_at)
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
  AND l.file_md5 IN (SELECT file_md5 FROM batch_files);

-- Where the card features must be recomputed: each card with new rows, from its earliest one.
MERGE `{{ dataset }}.feature_scope` AS t
USING (
  SELECT card_pseudonym, MIN(UNIX_SECONDS(event_time)) AS start_ts FROM staged GROUP BY card_pseudonym
) AS s
ON t.card_pseudonym = s.card_pseudonym
WHEN MATCHED AND s.start_ts < t.start_ts THEN UPDATE SET start_ts = s.start_ts
WHEN NOT MATCHED THEN INSERT (card_pseudonym, start_ts) VALUES (s.card_pseudonym, s.start_ts);

-- First second each (card, merchant) was used, and its rows on that second: whatever order
-- files arrive in, an earlier first use replaces a later one and an equal one adds its rows.
MERGE `{{ dataset }}.card_merchants` AS t
USING (
  SELECT card_pseudonym, merchant, ts AS first_ts, COUNT(*) AS first_second_rows
  FROM (
    SELECT
      card_pseudonym,
      merchant,
      UNIX_SECONDS(event_time) AS ts,
      MIN(UNIX_SECONDS(event_time)) OVER (PARTITION BY card_pseudonym, merchant) AS min_ts
    FROM staged
  )
  WHERE ts = min_ts
  GROUP BY card_pseudonym, merchant, ts
) AS s
ON t.card_pseudonym = s.card_pseudonym AND t.merchant = s.merchant
WHEN MATCHED AND s.first_ts < t.first_ts THEN
  UPDATE SET first_ts = s.first_ts, first_second_rows = s.first_second_rows
WHEN MATCHED AND s.first_ts = t.first_ts THEN
  UPDATE SET first_second_rows = t.first_second_rows + s.first_second_rows
WHEN NOT MATCHED THEN
  INSERT (card_pseudonym, merchant, first_ts, first_second_rows)
  VALUES (s.card_pseudonym, s.merchant, s.first_ts, s.first_second_rows);

INSERT INTO `{{ dataset }}.transform_log` (file_md5, run_id, transformed_at)
SELECT file_md5, @run_id, CURRENT_TIMESTAMP() FROM batch_files;

COMMIT TRANSACTION;

DROP TABLE staged_before;
DROP TABLE staged;
DROP TABLE checked;
DROP TABLE batch_files;
