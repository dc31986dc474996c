-- The prediction log's append, first (fraud_mlops/prediction_log/append.py, every run, also one
-- with nothing incoming): drops the erasure records no source needs any more, those erased more
-- than log_retention_days + 1 days ago: the log sink's partition of the erasure's day has expired
-- (log_retention_days after the day's start). A record holds the erased card's pseudonym, as
-- the sink's copies do, and one to two days longer (macros/card_erasures.sql).
{%- from 'macros/card_erasures.sql' import card_erasures_table with context %}
{{ card_erasures_table() }};

DELETE FROM `{{ dataset }}.card_erasures`
WHERE erased_at < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {{ log_retention_days + 1 }} DAY);
