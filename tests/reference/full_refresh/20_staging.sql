-- raw -> staging (typed, valid, deduplicated, pseudonymised) and rejected_rows (with reasons).
-- Every raw row ends up in exactly one of the two (checked by 50_quality_checks.sql).
-- Full refresh from raw: reruns are idempotent by construction. Same semantics as main's
-- write-audit-publish SQL (pseudonym macro, raw dataset), written straight to the published tables.
{%- from 'macros/luhn.sql' import luhn_sum %}
{%- from 'macros/pseudonym.sql' import card_pseudonym with context %}

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
  FROM `{{ raw_dataset }}.raw_transactions`
)
SELECT
  *,
  CASE
    WHEN transaction_id IS NULL THEN 'missing_transaction_id'
    WHEN event_time IS NULL THEN 'bad_event_time'
    WHEN event_time > TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 5 MINUTE) THEN 'future_event_time'
    WHEN event_time < TIMESTAMP '{{ earliest_event_time }}' THEN 'ancient_event_time'
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
FROM parsed;

CREATE OR REPLACE TABLE `{{ dataset }}.stg_transactions` AS
SELECT
  transaction_id,
  event_time,
  {{ card_pseudonym('card_digits') }} AS card_pseudonym,
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
-- The valid copy from the earliest-loaded file wins (copies inside one file have no defined
-- order: a load keeps none); the other copies are rejected below.
QUALIFY ROW_NUMBER() OVER (PARTITION BY transaction_id ORDER BY _loaded_at, _file_name) = 1;

CREATE OR REPLACE TABLE `{{ dataset }}.rejected_rows` AS
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
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY IF(reject_reason IS NULL, transaction_id, NULL)
      ORDER BY _loaded_at, _file_name
    ) AS valid_copy_number
  FROM checked
)
WHERE reject_reason IS NOT NULL OR valid_copy_number > 1
UNION ALL
-- Lines no load could parse (validation found them; the load skipped them): file + line number.
SELECT
  transaction_id,
  reason,
  CAST(NULL AS STRING) AS raw_event_time,
  CAST(NULL AS STRING) AS raw_amount,
  card_last4,
  file_name AS _file_name,
  line_number,
  rejected_at AS _loaded_at,
  rejected_at
FROM `{{ dataset }}.rejected_lines`;

DROP TABLE checked;
