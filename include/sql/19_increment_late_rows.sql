-- Published transactions at or after the increment's first new event day (@event_from plus the
-- widest window). With none, every touched card's serving state holds its last transaction
-- before @event_from (its latest one lies before that day), and 30_card_features.sql reads no
-- older staging for it: on BigQuery that read spans every partition before @event_from, whatever
-- the rows it finds, so an in-order file would pay for all of history (bench/bench_bigquery_bytes.py).
-- Reads the event_time column of the partitions from that day on (none for an in-order daily file).
SELECT COUNT(*) AS later_rows
FROM `{{ dataset }}.stg_transactions` AS s
WHERE s.event_time >= TIMESTAMP_ADD(CAST(@event_from AS TIMESTAMP), INTERVAL {{ widest_window_seconds }} SECOND);
