-- staging -> card_features: every transaction with point-in-time card features (full refresh,
-- the reference of the incremental include/sql/30_card_features.sql; main's rules and state).
-- History windows end one second before the row (RANGE ... 1 PRECEDING over UNIX_SECONDS), so
-- no row sees its own second's other rows or its future; the final SELECT then adds the row
-- itself (counts, sums and means include the transaction). Names and rules: features.py.
{%- from 'macros/card_state.sql' import card_state %}
CREATE OR REPLACE TABLE `{{ dataset }}.{{ features_table }}` AS
WITH base AS (
  SELECT
    transaction_id,
    card_pseudonym,
    event_time,
    UNIX_SECONDS(event_time) AS ts,
    merchant,
    amount,
{%- for v in v_components %}
    {{ v }},
{%- endfor %}
    is_fraud
  FROM `{{ dataset }}.stg_transactions`
),
merchant_history AS (
  SELECT
    *,
    IF(COUNT(*) OVER (
      PARTITION BY card_pseudonym, merchant ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) = 0, 1, 0) AS is_new_merchant
  FROM base
),
windows AS (
  SELECT
    *,
    IFNULL(SUM(is_new_merchant) OVER (card_history RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
      AS merchants_seen,
    CAST(ts - MAX(ts) OVER (card_history RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS FLOAT64)
      AS seconds_since_prev_txn,
    COUNT(*) OVER (card_history RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING) AS txn_count_1h,
    COUNT(*) OVER (card_history RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING) AS txn_count_24h,
    COUNT(*) OVER (card_history RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING) AS txn_count_7d,
    IFNULL(SUM(amount) OVER (card_history RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING), 0) AS amount_sum_1h,
    IFNULL(SUM(amount) OVER (card_history RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING), 0) AS amount_sum_24h,
    IFNULL(SUM(amount) OVER (card_history RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING), 0) AS amount_sum_7d
  FROM merchant_history
  WINDOW card_history AS (PARTITION BY card_pseudonym ORDER BY ts)
)
SELECT
  transaction_id,
  card_pseudonym,
  event_time,
  CAST(amount AS FLOAT64) AS amount,
  EXTRACT(HOUR FROM event_time) AS hour_of_day,
  EXTRACT(DAYOFWEEK FROM event_time) AS day_of_week,
{%- for v in v_components %}
  {{ v }},
{%- endfor %}
  -- Card features: the history aggregates above combined with this transaction, by the
  -- rules of fraud_mlops/features.py (CARD_FEATURE_RULES), which serving applies too.
{%- for name, expression in card_feature_expressions %}
  {{ expression }} AS {{ name }},
{%- endfor %}
  is_fraud
FROM windows;

-- The feature view's source: each card's latest feature row, and the card's serving state
-- (macros/card_state.sql) from which serving computes a new transaction's card features.
CREATE OR REPLACE TABLE `{{ dataset }}.{{ latest_features_view }}` AS
WITH latest_rows AS (
  SELECT {{ entity_key }}, {{ event_time }}, {{ feature_columns }}
  FROM `{{ dataset }}.{{ features_table }}`
  WHERE TRUE  -- GoogleSQL refuses a QUALIFY without WHERE, GROUP BY or HAVING
  QUALIFY ROW_NUMBER() OVER (PARTITION BY {{ entity_key }} ORDER BY {{ event_time }} DESC, transaction_id DESC) = 1
),
card_state AS (
  {{ card_state("`" ~ dataset ~ ".stg_transactions`", entity_key, widest_window_seconds) | indent(2) }}
)
SELECT
  latest_rows.*,
{%- for name, _ in state_columns %}
  card_state.{{ name }}{{ "," if not loop.last }}
{%- endfor %}
FROM latest_rows
LEFT JOIN card_state ON card_state.{{ entity_key }} = latest_rows.{{ entity_key }};
