{#- The card erasures of the last log_retention_days: the erasure (96) records one in its
    transaction; the prediction log's append (83) skips an answer logged before its card's
    erasure and drops the records the log sink no longer needs. The log's sources keep what the
    function logged before an erasure: the spool files not appended yet (local) and the log
    sink's table, which every hourly copy re-reads from 48 hours before the newest answer logged
    (gcp), for log_retention_days (its day partitions expire then). A record holds the card's
    pseudonym, as those copies do, and for no longer. -#}
{% macro card_erasures_table() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.card_erasures` (
  {{ entity_key }} STRING,
  erased_at TIMESTAMP
)
{%- endmacro %}

{#- The records no source can need: older than the sink's partitions of their erasure's day. -#}
{% macro expired_card_erasures() -%}
DELETE FROM `{{ dataset }}.card_erasures`
WHERE erased_at < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {{ log_retention_days + 1 }} DAY)
{%- endmacro %}

{#- True unless the row (its card pseudonym and logged_at) is an answer given before its card's
    erasure. -#}
{% macro not_erased(alias) -%}
NOT EXISTS (
    SELECT 1 FROM `{{ dataset }}.card_erasures` AS erasure
    WHERE erasure.{{ entity_key }} = {{ alias }}.{{ entity_key }} AND {{ alias }}.logged_at < erasure.erased_at
  )
{%- endmacro %}
