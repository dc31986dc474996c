{#- A card's serving state (fraud_mlops.features.CardState), one row per card, from its
    transactions (a relation with the entity key, event_time, amount and merchant): the
    (time, amount) pairs within the widest feature window of its latest transaction, the
    latest transaction before those, and every merchant with the second it was first used and
    how many transactions used it in that second. Serving adds a request to this state with
    features.request_time_features, by the same rules as the training SQL's final SELECT. -#}
{#- A card's recent (time, amount) pairs as serving reads them: sorted by time, then amount.
    Every query that builds the serving state's arrays aggregates them with this one ordering. -#}
{% macro recent_pairs(rows) -%}
ARRAY_AGG({{ rows }}.ts ORDER BY {{ rows }}.ts, {{ rows }}.amount) AS recent_times,
    ARRAY_AGG(CAST({{ rows }}.amount AS FLOAT64) ORDER BY {{ rows }}.ts, {{ rows }}.amount) AS recent_amounts
{%- endmacro %}

{% macro card_state(transactions, entity_key, widest_window_seconds) -%}
WITH tx AS (
  SELECT {{ entity_key }}, UNIX_SECONDS(event_time) AS ts, CAST(amount AS FLOAT64) AS amount, merchant
  FROM {{ transactions }}
),
latest AS (
  SELECT {{ entity_key }}, MAX(ts) AS latest_ts FROM tx GROUP BY {{ entity_key }}
),
recent AS (
  SELECT
    tx.{{ entity_key }},
    {{ recent_pairs('tx') }}
  FROM tx JOIN latest ON tx.{{ entity_key }} = latest.{{ entity_key }}
  WHERE tx.ts >= latest.latest_ts - {{ widest_window_seconds }}
  GROUP BY tx.{{ entity_key }}
),
older AS (
  SELECT tx.{{ entity_key }}, MAX(tx.ts) AS previous_time
  FROM tx JOIN latest ON tx.{{ entity_key }} = latest.{{ entity_key }}
  WHERE tx.ts < latest.latest_ts - {{ widest_window_seconds }}
  GROUP BY tx.{{ entity_key }}
),
firsts AS (
  SELECT {{ entity_key }}, merchant, MIN(ts) AS first_ts FROM tx GROUP BY {{ entity_key }}, merchant
),
first_counts AS (
  SELECT firsts.{{ entity_key }}, firsts.merchant, firsts.first_ts, COUNT(*) AS first_count
  FROM firsts
  JOIN tx
    ON tx.{{ entity_key }} = firsts.{{ entity_key }} AND tx.merchant = firsts.merchant AND tx.ts = firsts.first_ts
  GROUP BY firsts.{{ entity_key }}, firsts.merchant, firsts.first_ts
),
merchants AS (
  SELECT
    {{ entity_key }},
    ARRAY_AGG(merchant ORDER BY first_ts, merchant) AS merchant_names,
    ARRAY_AGG(first_ts ORDER BY first_ts, merchant) AS merchant_first_times,
    ARRAY_AGG(first_count ORDER BY first_ts, merchant) AS merchant_first_counts
  FROM first_counts
  GROUP BY {{ entity_key }}
)
SELECT
  latest.{{ entity_key }},
  recent.recent_times,
  recent.recent_amounts,
  older.previous_time,
  merchants.merchant_names,
  merchants.merchant_first_times,
  merchants.merchant_first_counts
FROM latest
JOIN recent ON recent.{{ entity_key }} = latest.{{ entity_key }}
LEFT JOIN older ON older.{{ entity_key }} = latest.{{ entity_key }}
JOIN merchants ON merchants.{{ entity_key }} = latest.{{ entity_key }}
{%- endmacro %}
