-- staging -> card_features, incrementally: every transaction with point-in-time card features.
-- Windows end one second before the row (RANGE ... 1 PRECEDING over UNIX_SECONDS), so no row
-- sees itself, its own second or its future. Feature names come from fraud_mlops/features.py.
--
-- Recomputed: for each card in feature_scope (cards with new rows, from their earliest new
-- second), its rows from that second on: a late row changes the windows and history features of
-- the card's later rows. Read: those cards' rows from @event_from (earliest new event less the
-- widest window, a constant: BigQuery reads only those partitions), plus one narrow look-up of
-- each card's last transaction before @event_from. Features over all of a card's history come
-- from state, not from history: card_merchants (is_new_merchant, merchants_seen).
-- Same results as a full refresh (tests/reference/full_refresh/30_card_features.sql).

-- Only the columns the windows need: sorting narrow rows is what keeps the look-back cheap.
CREATE TEMP TABLE history AS
SELECT
  s.transaction_id,
  s.card_pseudonym,
  UNIX_SECONDS(s.event_time) AS ts,
  CAST(s.amount AS FLOAT64) AS amount,
  c.start_ts
FROM `{{ dataset }}.stg_transactions` AS s
JOIN `{{ dataset }}.feature_scope` AS c ON c.card_pseudonym = s.card_pseudonym
WHERE s.event_time >= CAST(@event_from AS TIMESTAMP);

-- Each recomputed card's last transaction before the rows read above.
CREATE TEMP TABLE earlier AS
SELECT s.card_pseudonym, MAX(UNIX_SECONDS(s.event_time)) AS last_ts
FROM `{{ dataset }}.stg_transactions` AS s
WHERE s.event_time < CAST(@event_from AS TIMESTAMP)
  AND s.card_pseudonym IN (SELECT c.card_pseudonym FROM `{{ dataset }}.feature_scope` AS c)
GROUP BY s.card_pseudonym;

CREATE TEMP TABLE recomputed AS
WITH windows AS (
  SELECT
    *,
    CAST(ts - MAX(ts) OVER (card_history RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS FLOAT64)
      AS since_prev_read,
    COUNT(*) OVER (card_history RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING) AS txn_count_1h,
    COUNT(*) OVER (card_history RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING) AS txn_count_24h,
    COUNT(*) OVER (card_history RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING) AS txn_count_7d,
    IFNULL(SUM(amount) OVER (card_history RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING), 0) AS amount_sum_1h,
    IFNULL(SUM(amount) OVER (card_history RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING), 0) AS amount_sum_24h,
    AVG(amount) OVER (card_history RANGE BETWEEN 604800 PRECEDING AND 1 PRECEDING) AS amount_avg_7d
  FROM history
  WINDOW card_history AS (PARTITION BY card_pseudonym ORDER BY ts)
),
rows_to_write AS (
  -- the recomputed rows, with the staged columns the windows did not carry
  SELECT
    w.*,
    s.event_time,
    s.merchant,
{%- for v in v_components %}
    s.{{ v }},
{%- endfor %}
    s.is_fraud
  FROM windows AS w
  JOIN `{{ dataset }}.stg_transactions` AS s ON s.transaction_id = w.transaction_id
  WHERE w.ts >= w.start_ts AND s.event_time >= CAST(@event_from AS TIMESTAMP)
),
merchant_events AS (
  -- the card's first uses of each merchant (weighted by their first-second rows), and the rows
  SELECT m.card_pseudonym, m.first_ts AS ts, m.first_second_rows AS first_uses, CAST(NULL AS STRING) AS transaction_id
  FROM `{{ dataset }}.card_merchants` AS m
  WHERE m.card_pseudonym IN (SELECT c.card_pseudonym FROM `{{ dataset }}.feature_scope` AS c)
  UNION ALL
  SELECT card_pseudonym, ts, 0 AS first_uses, transaction_id
  FROM rows_to_write
),
seen AS (
  -- merchants the card used before the row's second: each first use counts its first-second rows
  SELECT
    transaction_id,
    SUM(first_uses) OVER (
      PARTITION BY card_pseudonym ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS merchants_seen
  FROM merchant_events
)
SELECT
  r.transaction_id,
  r.card_pseudonym,
  r.event_time,
  r.amount,
  EXTRACT(HOUR FROM r.event_time) AS hour_of_day,
  EXTRACT(DAYOFWEEK FROM r.event_time) AS day_of_week,
{%- for v in v_components %}
  r.{{ v }},
{%- endfor %}
  IF(first_use.first_ts = r.ts, 1, 0) AS is_new_merchant,
  IFNULL(seen.merchants_seen, 0) AS merchants_seen,
  IFNULL(r.since_prev_read, CAST(r.ts - e.last_ts AS FLOAT64)) AS seconds_since_prev_txn,
  r.txn_count_1h,
  r.txn_count_24h,
  r.txn_count_7d,
  r.amount_sum_1h,
  r.amount_sum_24h,
  r.amount_avg_7d,
  SAFE_DIVIDE(r.amount, r.amount_avg_7d) AS amount_to_avg_7d,
  r.is_fraud
FROM rows_to_write AS r
JOIN `{{ dataset }}.card_merchants` AS first_use
  ON first_use.card_pseudonym = r.card_pseudonym AND first_use.merchant = r.merchant
LEFT JOIN seen ON seen.transaction_id = r.transaction_id AND seen.transaction_id IS NOT NULL
LEFT JOIN earlier AS e ON e.card_pseudonym = r.card_pseudonym;

BEGIN TRANSACTION;

DELETE FROM `{{ dataset }}.{{ features_table }}` AS f
WHERE f.event_time >= CAST(@event_from AS TIMESTAMP)
  AND EXISTS (
    SELECT 1 FROM `{{ dataset }}.feature_scope` AS c
    WHERE c.card_pseudonym = f.card_pseudonym AND UNIX_SECONDS(f.event_time) >= c.start_ts
  );

INSERT INTO `{{ dataset }}.{{ features_table }}`
  (transaction_id, {{ entity_key }}, {{ event_time }}, {{ feature_columns }}, {{ label }})
SELECT transaction_id, {{ entity_key }}, {{ event_time }}, {{ feature_columns }}, {{ label }}
FROM recomputed;

-- The feature view's source: each card's latest feature row (what serving reads online). A
-- recomputed card's latest row is among its recomputed rows (they run to its newest second).
MERGE `{{ dataset }}.{{ latest_features_view }}` AS t
USING (
  SELECT {{ entity_key }}, {{ event_time }}, {{ feature_columns }}
  FROM recomputed
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY {{ entity_key }} ORDER BY {{ event_time }} DESC, transaction_id DESC) = 1
) AS s
ON t.{{ entity_key }} = s.{{ entity_key }}
WHEN MATCHED THEN UPDATE SET
  {{ event_time }} = s.{{ event_time }},
{%- for name, _ in typed_features %}
  {{ name }} = s.{{ name }}{{ "," if not loop.last }}
{%- endfor %}
WHEN NOT MATCHED THEN INSERT ({{ entity_key }}, {{ event_time }}, {{ feature_columns }})
  VALUES (s.{{ entity_key }}, s.{{ event_time }}{% for name, _ in typed_features %}, s.{{ name }}{% endfor %});

COMMIT TRANSACTION;

DROP TABLE recomputed;
DROP TABLE earlier;
DROP TABLE history;
