-- staging -> card_features, incrementally: every transaction with point-in-time card features.
-- History windows end one second before the row (RANGE ... 1 PRECEDING over UNIX_SECONDS), so
-- no row sees its own second's other rows or its future; the final SELECT then adds the row
-- itself (counts, sums and means include the transaction). Names and rules: features.py.
--
-- Recomputed: for each card in the candidate feature_scope (cards with new rows, from their
-- earliest new second), its rows from that second on: a late row changes the windows and
-- history features of the card's later rows. Read: those cards' published rows from
-- @event_from (earliest new event less the widest window, a constant: BigQuery reads only those
-- partitions) plus the increment's candidate rows, and each card's last transaction before
-- @event_from (from the published serving state). Features over all of a card's history come
-- from state, not from history: the published card_merchants (first uses before the start
-- second, summed per card) with the increment's changes (is_new_merchant, merchants_seen), and
-- the published serving state's merchant arrays, carried over or appended to; its recent
-- (time, amount) pairs are carried over likewise (both are re-aggregated only for new cards and
-- late files). Outputs are candidates: the recomputed rows, and the touched cards' latest rows
-- with their serving state; 55_publish.sql replaces them in the published tables.
-- Same results as a full refresh (tests/reference/full_refresh/30_card_features.sql).
{%- from 'macros/card_state.sql' import recent_pairs %}

-- An integer per touched card, for this run only: the windows below partition and join on it
-- (sorting and hashing 64-character pseudonyms cost ~1.5 CPU-s more a million rows).
CREATE TEMP TABLE card_keys AS
SELECT f.card_pseudonym, f.start_ts, ROW_NUMBER() OVER (ORDER BY f.card_pseudonym) AS card_key
FROM `{{ candidate_dataset }}.feature_scope` AS f;

-- The touched cards' transactions from @event_from: published staging and the increment, only
-- the columns the windows and the serving state read (BigQuery bills the columns it reads;
-- the recomputed rows' other columns are read below from their own, later, partitions).
CREATE TEMP TABLE history AS
SELECT
  s.transaction_id,
  s.card_pseudonym,
  s.event_time,
  UNIX_SECONDS(s.event_time) AS ts,
  s.merchant,
  s.amount,  -- NUMERIC: sums of amounts are exact (features.card_feature_sql)
  c.start_ts,
  c.card_key
FROM (
  SELECT p.transaction_id, p.card_pseudonym, p.event_time, p.merchant, p.amount
  FROM `{{ dataset }}.stg_transactions` AS p
  WHERE p.event_time >= CAST(@event_from AS TIMESTAMP)
    AND p.card_pseudonym IN (SELECT f.card_pseudonym FROM `{{ candidate_dataset }}.feature_scope` AS f)
  UNION ALL
  SELECT n.transaction_id, n.card_pseudonym, n.event_time, n.merchant, n.amount
  FROM `{{ candidate_dataset }}.stg_transactions` AS n
) AS s
JOIN card_keys AS c ON c.card_pseudonym = s.card_pseudonym;

-- Each recomputed card's last transaction before the rows read above. The published serving
-- state holds it: every transaction within the widest window of the card's latest one, and the
-- latest before those (previous_time); the answer is among them unless both lie at or after
-- @event_from (a file more than a window older than the card's latest transaction). Only those
-- cards' older staging is scanned: reading all of it cost a steady daily run more with every
-- day of history. A card without state has no published transaction. @older_until is
-- @event_from when a published transaction lies on or after the increment's first new day
-- (a late or overlapping file), else the earliest instant: no card then lacks an answer, and
-- BigQuery, which bills every partition a filter names whatever rows a join keeps, reads none
-- (the planning step decides: fraud_mlops/ingestion/increment.py, 19_increment_late_rows.sql).
CREATE TEMP TABLE earlier AS
WITH state AS (
  SELECT
    l.card_pseudonym,
    l.recent_times,
    l.previous_time,
    UNIX_SECONDS(l.{{ event_time }}) - {{ widest_window_seconds }} < UNIX_SECONDS(CAST(@event_from AS TIMESTAMP))
      OR l.previous_time IS NULL
      OR l.previous_time < UNIX_SECONDS(CAST(@event_from AS TIMESTAMP)) AS answers
  FROM `{{ dataset }}.{{ latest_features_view }}` AS l
  WHERE l.card_pseudonym IN (SELECT c.card_pseudonym FROM `{{ candidate_dataset }}.feature_scope` AS c)
),
state_times AS (
  SELECT s.card_pseudonym, t AS ts FROM state AS s CROSS JOIN UNNEST(s.recent_times) AS t WHERE s.answers
  UNION ALL
  SELECT s.card_pseudonym, s.previous_time AS ts FROM state AS s WHERE s.answers
)
SELECT card_pseudonym, MAX(ts) AS last_ts
FROM state_times
WHERE ts < UNIX_SECONDS(CAST(@event_from AS TIMESTAMP))
GROUP BY card_pseudonym
UNION ALL
SELECT s.card_pseudonym, MAX(UNIX_SECONDS(s.event_time)) AS last_ts
FROM `{{ dataset }}.stg_transactions` AS s
WHERE s.event_time < CAST(@older_until AS TIMESTAMP)
  AND s.card_pseudonym IN (SELECT u.card_pseudonym FROM state AS u WHERE NOT u.answers)
GROUP BY s.card_pseudonym;

-- The touched cards' merchants first used at or after their start second, as publishing will
-- leave them: the increment's changes (candidate card_merchants, 20_staging.sql) and the
-- published rows they do not replace. Earlier first uses cannot change (every new row is at or
-- after its card's start second): they are only summed per card (seen_before_start below).
CREATE TEMP TABLE merchants_from_start AS
SELECT c.card_key, m.card_pseudonym, m.merchant, m.first_ts, m.first_second_rows
FROM `{{ dataset }}.card_merchants` AS m
JOIN card_keys AS c ON c.card_pseudonym = m.card_pseudonym
WHERE m.first_ts >= c.start_ts
  AND NOT EXISTS (
    SELECT 1 FROM `{{ candidate_dataset }}.card_merchants` AS n
    WHERE n.card_pseudonym = m.card_pseudonym AND n.merchant = m.merchant
  )
UNION ALL
-- (the increment's changes are all of touched cards: every card with a new row is in scope)
SELECT c.card_key, n.card_pseudonym, n.merchant, n.first_ts, n.first_second_rows
FROM `{{ candidate_dataset }}.card_merchants` AS n
JOIN card_keys AS c ON c.card_pseudonym = n.card_pseudonym;

CREATE OR REPLACE TABLE `{{ candidate_dataset }}.{{ features_table }}` AS
WITH card_days AS (
  -- Per card and UTC day: its rows, their amounts and its latest second. A row's week frame is
  -- the part of the day a week before it from its time of day on, the six whole days between
  -- (summed here) and its own day's earlier rows: the week windows below then run over two
  -- days of rows, not eight (bench/bench_incremental.py).
  SELECT
    card_key,
    DIV(ts, 86400) AS day,
    COUNT(*) AS day_rows,
    SUM(amount) AS day_amount,
    MAX(ts) AS day_latest_ts
  FROM history
  GROUP BY card_key, day
),
days_before AS (
  SELECT
    card_key,
    day,
    MAX(day) OVER (PARTITION BY card_key) AS last_day,
    SUM(day_rows) OVER (card_by_day RANGE BETWEEN 6 PRECEDING AND 1 PRECEDING) AS whole_days_rows,
    SUM(day_amount) OVER (card_by_day RANGE BETWEEN 6 PRECEDING AND 1 PRECEDING) AS whole_days_amount,
    MAX(day_latest_ts) OVER (card_by_day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_before_day
  FROM card_days
  WINDOW card_by_day AS (PARTITION BY card_key ORDER BY day)
),
day_rows AS (
  -- the rows of the recomputed days (each card's start day on), and the rows of the days a week
  -- before those moved a week forward onto them: a moved row at or after a row's second is in
  -- its frame (it lies at most a week before the row)
  SELECT h.card_key, DIV(h.ts, 86400) AS day, h.ts, h.amount, h.transaction_id, h.start_ts
  FROM history AS h
  WHERE h.ts >= DIV(h.start_ts, 86400) * 86400
  UNION ALL
  SELECT h.card_key, DIV(h.ts + 604800, 86400) AS day, h.ts + 604800 AS ts, h.amount,
    CAST(NULL AS STRING) AS transaction_id, h.start_ts
  FROM history AS h
  JOIN days_before AS d ON d.card_key = h.card_key AND d.day = DIV(h.ts, 86400)
  WHERE h.ts + 604800 >= DIV(h.start_ts, 86400) * 86400
    AND DIV(h.ts + 604800, 86400) <= d.last_day
),
week_windows AS (
  SELECT
    transaction_id,
    card_key,
    day,
    ts,
    start_ts,
    COUNT(IF(transaction_id IS NULL, 1, NULL)) OVER (card_day RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
      AS week_ago_rows,
    SUM(IF(transaction_id IS NULL, amount, 0)) OVER (card_day RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
      AS week_ago_amount,
    COUNT(transaction_id) OVER (card_day RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_rows,
    SUM(IF(transaction_id IS NULL, 0, amount)) OVER (card_day RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
      AS earlier_amount,
    MAX(IF(transaction_id IS NULL, NULL, ts)) OVER (card_day RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
      AS earlier_latest_ts
  FROM day_rows
  WINDOW card_day AS (PARTITION BY card_key, day ORDER BY ts)
),
day_windows AS (
  -- the hour and day windows run only over the day before each card's start second
  SELECT
    transaction_id,
    COUNT(*) OVER (card_day RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING) AS txn_count_1h,
    COUNT(*) OVER (card_day RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING) AS txn_count_24h,
    IFNULL(SUM(amount) OVER (card_day RANGE BETWEEN 3600 PRECEDING AND 1 PRECEDING), 0) AS amount_sum_1h,
    IFNULL(SUM(amount) OVER (card_day RANGE BETWEEN 86400 PRECEDING AND 1 PRECEDING), 0) AS amount_sum_24h
  FROM history
  WHERE ts >= start_ts - 86400
  WINDOW card_day AS (PARTITION BY card_key ORDER BY ts)
),
windows AS (
  SELECT
    w.transaction_id,
    w.ts,
    w.start_ts,
    CAST(w.ts - IFNULL(w.earlier_latest_ts, d.latest_before_day) AS FLOAT64) AS since_prev_read,
    day_windows.txn_count_1h,
    day_windows.txn_count_24h,
    CAST(w.week_ago_rows + IFNULL(d.whole_days_rows, 0) + w.earlier_rows AS INT64) AS txn_count_7d,
    IFNULL(w.week_ago_amount, 0) + IFNULL(d.whole_days_amount, 0) + IFNULL(w.earlier_amount, 0) AS amount_sum_7d,
    day_windows.amount_sum_1h,
    day_windows.amount_sum_24h
  FROM week_windows AS w
  JOIN days_before AS d ON d.card_key = w.card_key AND d.day = w.day
  JOIN day_windows ON day_windows.transaction_id = w.transaction_id
  WHERE w.ts >= w.start_ts
),
staged AS (
  -- the recomputed rows' staging rows (at or after their card's start second, so at or after
  -- @event_from plus the widest window), for the columns the windows did not carry
  SELECT * FROM `{{ dataset }}.stg_transactions` AS p
  WHERE p.event_time >= TIMESTAMP_ADD(CAST(@event_from AS TIMESTAMP), INTERVAL {{ widest_window_seconds }} SECOND)
    AND p.card_pseudonym IN (SELECT f.card_pseudonym FROM `{{ candidate_dataset }}.feature_scope` AS f)
  UNION ALL
  SELECT * FROM `{{ candidate_dataset }}.stg_transactions`
),
rows_to_write AS (
  -- the recomputed rows, with the merchant the history features need (from the rows already
  -- read: staging is read once more, at the end, for the other columns, which cost ~4 CPU-s a
  -- million rows when carried through the joins below)
  SELECT w.*, h.card_key, h.card_pseudonym, h.merchant
  FROM windows AS w
  JOIN history AS h ON h.transaction_id = w.transaction_id
  WHERE w.ts >= w.start_ts
),
seen_before_start AS (
  -- first uses before the card's start second: one sum per card (a card's merchant state grows
  -- with its life, and only the first uses from its start second on need the window below)
  SELECT m.card_pseudonym, SUM(m.first_second_rows) AS first_uses
  FROM `{{ dataset }}.card_merchants` AS m
  JOIN `{{ candidate_dataset }}.feature_scope` AS c ON c.card_pseudonym = m.card_pseudonym
  WHERE m.first_ts < c.start_ts
  GROUP BY m.card_pseudonym
),
merchant_events AS (
  -- the card's first uses of a merchant from its start second on (weighted by their
  -- first-second rows), and the rows
  SELECT m.card_key, m.first_ts AS ts, m.first_second_rows AS first_uses, CAST(NULL AS STRING) AS transaction_id
  FROM merchants_from_start AS m
  UNION ALL
  SELECT card_key, ts, 0 AS first_uses, transaction_id
  FROM rows_to_write
),
seen AS (
  -- merchants the card used before the row's second: each first use counts its first-second
  -- rows (those before the start second are summed in seen_before_start)
  SELECT
    transaction_id,
    SUM(first_uses) OVER (
      PARTITION BY card_key ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS merchants_seen
  FROM merchant_events
),
card_history AS (
  -- each card feature's name holds the aggregate of the card's history (earlier seconds)
  SELECT
    r.transaction_id,
    IF(first_use.first_ts = r.ts, 1, 0) AS is_new_merchant,  -- no first use from the start second: not new
    IFNULL(before_start.first_uses, 0) + IFNULL(seen.merchants_seen, 0) AS merchants_seen,
    IFNULL(r.since_prev_read, CAST(r.ts - e.last_ts AS FLOAT64)) AS seconds_since_prev_txn,
    r.txn_count_1h,
    r.txn_count_24h,
    r.txn_count_7d,
    r.amount_sum_1h,
    r.amount_sum_24h,
    r.amount_sum_7d
  FROM rows_to_write AS r
  LEFT JOIN merchants_from_start AS first_use
    ON first_use.card_pseudonym = r.card_pseudonym AND first_use.merchant = r.merchant
  LEFT JOIN seen ON seen.transaction_id = r.transaction_id AND seen.transaction_id IS NOT NULL
  LEFT JOIN seen_before_start AS before_start ON before_start.card_pseudonym = r.card_pseudonym
  LEFT JOIN earlier AS e ON e.card_pseudonym = r.card_pseudonym
),
featured AS (
  SELECT
    h.*,
    s.card_pseudonym,
    s.event_time,
    s.amount,
{%- for v in v_components %}
    s.{{ v }},
{%- endfor %}
    s.is_fraud
  FROM card_history AS h
  JOIN staged AS s ON s.transaction_id = h.transaction_id
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
FROM featured;

-- The touched cards' latest feature rows (a recomputed card's latest row is among its
-- recomputed rows: they run to its newest second) and their serving state, the same values as
-- macros/card_state.sql over all of the card's transactions: the (time, amount) pairs within
-- the widest window of the latest one (all at or after @event_from), the latest transaction
-- before those (in the rows read, or else the look-up before @event_from), and every merchant
-- with its first second and that second's rows (card_merchants). Published by MERGE.
CREATE OR REPLACE TABLE `{{ candidate_dataset }}.{{ latest_features_view }}` AS
WITH latest AS (
  SELECT card_key, ANY_VALUE(card_pseudonym) AS card_pseudonym, MAX(ts) AS latest_ts FROM history GROUP BY card_key
),
latest_rows AS (
  -- the card's newest second first (a join: ranking every row cost twice as much), then the
  -- greatest transaction id among that second's rows
  SELECT latest.card_key, f.{{ entity_key }}, f.{{ event_time }}{% for name, _ in feature_types %}, f.{{ name }}{% endfor %}
  FROM `{{ candidate_dataset }}.{{ features_table }}` AS f
  JOIN latest ON latest.card_pseudonym = f.card_pseudonym AND UNIX_SECONDS(f.event_time) = latest.latest_ts
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY f.{{ entity_key }} ORDER BY f.transaction_id DESC) = 1
),
in_order AS (
  -- Cards whose new rows all follow their published latest transaction: their published
  -- (time, amount) pairs, sorted, still within the window of the new latest one are a suffix
  -- (from `dropped` on), and the new pairs sort after them. Aggregating every pair of the window
  -- again (an ordered aggregation of a week of rows) cost a steady daily run 3 CPU-s at 9M rows.
  SELECT
    latest.card_key,
    latest.latest_ts,
    p.recent_times,
    p.recent_amounts,
    (SELECT COUNT(*) FROM UNNEST(p.recent_times) AS t WHERE t < latest.latest_ts - {{ widest_window_seconds }}) AS dropped
  FROM `{{ dataset }}.{{ latest_features_view }}` AS p
  JOIN `{{ candidate_dataset }}.feature_scope` AS c ON c.card_pseudonym = p.card_pseudonym
  JOIN latest ON latest.card_pseudonym = p.card_pseudonym
  WHERE c.start_ts > UNIX_SECONDS(p.{{ event_time }})
),
new_pairs AS (
  SELECT
    h.card_key,
    {{ recent_pairs('h') }}
  FROM history AS h JOIN in_order AS o ON o.card_key = h.card_key
  WHERE h.ts >= h.start_ts AND h.ts >= o.latest_ts - {{ widest_window_seconds }}
  GROUP BY h.card_key
),
recent AS (
  SELECT
    o.card_key,
    -- in bounds only: BigQuery's reference is ambiguous about a start offset past the end
    IF(o.dropped >= ARRAY_LENGTH(o.recent_times), n.recent_times,
      ARRAY_CONCAT(ARRAY_SLICE(o.recent_times, o.dropped, -1), n.recent_times)) AS recent_times,
    IF(o.dropped >= ARRAY_LENGTH(o.recent_times), n.recent_amounts,
      ARRAY_CONCAT(ARRAY_SLICE(o.recent_amounts, o.dropped, -1), n.recent_amounts)) AS recent_amounts
  FROM in_order AS o JOIN new_pairs AS n ON n.card_key = o.card_key
  UNION ALL
  -- the other touched cards (new cards, late files): every pair of the window, from the rows read
  SELECT
    h.card_key,
    {{ recent_pairs('h') }}
  FROM history AS h
  JOIN (
    -- these cards first (few on a steady day), then their rows: joining every row read (2.1M
    -- on bench_incremental's day 30) before dropping the in-order cards' cost ~0.3 CPU-s
    SELECT l.card_key, l.latest_ts FROM latest AS l
    WHERE l.card_key NOT IN (SELECT o.card_key FROM in_order AS o)
  ) AS others ON h.card_key = others.card_key
  WHERE h.ts >= others.latest_ts - {{ widest_window_seconds }}
  GROUP BY h.card_key
),
older AS (
  SELECT h.card_key, MAX(h.ts) AS previous_time
  FROM history AS h JOIN latest ON h.card_key = latest.card_key
  WHERE h.ts < latest.latest_ts - {{ widest_window_seconds }}
  GROUP BY h.card_key
),
merchant_changes AS (
  SELECT
    card_pseudonym,
    MIN(first_ts) AS first_changed_ts,
    ARRAY_AGG(merchant ORDER BY first_ts, merchant) AS merchant_names,
    ARRAY_AGG(first_ts ORDER BY first_ts, merchant) AS merchant_first_times,
    ARRAY_AGG(first_second_rows ORDER BY first_ts, merchant) AS merchant_first_counts
  FROM `{{ candidate_dataset }}.card_merchants`
  -- cards with a published state only (new cards are rebuilt below: aggregating theirs here too
  -- would do it twice)
  WHERE card_pseudonym IN (SELECT l.card_pseudonym FROM `{{ dataset }}.{{ latest_features_view }}` AS l)
  GROUP BY card_pseudonym
),
carried AS (
  -- Published merchant arrays that stay valid: no merchant changed, or only merchants first used
  -- after the card's published latest transaction (an in-order increment: they sort after every
  -- published one, so they are appended). Re-aggregating every touched card's merchants cost a
  -- steady daily run more with every day of the cards' lives (bench/bench_incremental.py).
  SELECT
    p.card_pseudonym,
    IF(n.card_pseudonym IS NULL, p.merchant_names, ARRAY_CONCAT(p.merchant_names, n.merchant_names))
      AS merchant_names,
    IF(n.card_pseudonym IS NULL, p.merchant_first_times, ARRAY_CONCAT(p.merchant_first_times, n.merchant_first_times))
      AS merchant_first_times,
    IF(n.card_pseudonym IS NULL, p.merchant_first_counts, ARRAY_CONCAT(p.merchant_first_counts, n.merchant_first_counts))
      AS merchant_first_counts
  FROM `{{ dataset }}.{{ latest_features_view }}` AS p
  LEFT JOIN merchant_changes AS n ON n.card_pseudonym = p.card_pseudonym
  WHERE p.card_pseudonym IN (SELECT c.card_pseudonym FROM `{{ candidate_dataset }}.feature_scope` AS c)
    AND (n.card_pseudonym IS NULL OR n.first_changed_ts > UNIX_SECONDS(p.{{ event_time }}))
),
rebuilt AS (
  -- the other touched cards (new cards, late files): aggregated from the merchant state as
  -- publishing will leave it (earlier first uses are unchanged, the rest merchants_from_start)
  SELECT
    m.card_pseudonym,
    ARRAY_AGG(m.merchant ORDER BY m.first_ts, m.merchant) AS merchant_names,
    ARRAY_AGG(m.first_ts ORDER BY m.first_ts, m.merchant) AS merchant_first_times,
    ARRAY_AGG(m.first_second_rows ORDER BY m.first_ts, m.merchant) AS merchant_first_counts
  FROM (
    SELECT p.card_pseudonym, p.merchant, p.first_ts, p.first_second_rows
    FROM `{{ dataset }}.card_merchants` AS p
    JOIN `{{ candidate_dataset }}.feature_scope` AS c ON c.card_pseudonym = p.card_pseudonym
    WHERE p.first_ts < c.start_ts
    UNION ALL
    SELECT card_pseudonym, merchant, first_ts, first_second_rows FROM merchants_from_start
  ) AS m
  WHERE m.card_pseudonym IN (
    SELECT c.card_pseudonym FROM `{{ candidate_dataset }}.feature_scope` AS c
    WHERE c.card_pseudonym NOT IN (SELECT k.card_pseudonym FROM carried AS k)
  )
  GROUP BY m.card_pseudonym
),
merchants AS (
  SELECT * FROM carried
  UNION ALL
  SELECT * FROM rebuilt
)
SELECT
  latest_rows.* EXCEPT (card_key),
  recent.recent_times,
  recent.recent_amounts,
  IFNULL(older.previous_time, e.last_ts) AS previous_time,
  merchants.merchant_names,
  merchants.merchant_first_times,
  merchants.merchant_first_counts
FROM latest_rows
JOIN recent ON recent.card_key = latest_rows.card_key
LEFT JOIN older ON older.card_key = latest_rows.card_key
LEFT JOIN earlier AS e ON e.card_pseudonym = latest_rows.card_pseudonym
JOIN merchants ON merchants.card_pseudonym = latest_rows.card_pseudonym;

DROP TABLE merchants_from_start;
DROP TABLE earlier;
DROP TABLE history;
DROP TABLE card_keys;
