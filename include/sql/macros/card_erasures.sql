{#- The card erasures of the last log_retention_days (+ 1): the erasure (96) records one in its
    transaction. The prediction log's sources keep what the function logged before an erasure:
    the spool files not appended yet (local) and the log sink's table, which every hourly copy
    re-reads from 48 hours before the newest answer logged (gcp), for log_retention_days (its day
    partitions expire then); so the append (83) skips an answer logged before its card's
    erasure. A batch scoring run in flight may have read the card's features before the
    erasure: 80 leaves out a card erased during the run, and 82 does not count it
    (not_erased_during_run). The append first drops the records no source needs any more
    (99_card_erasures_expiry.sql): a record holds the card's pseudonym, as the sink's copies do,
    and one to two days longer. -#}
{% macro card_erasures_table() -%}
CREATE TABLE IF NOT EXISTS `{{ dataset }}.card_erasures` (
  {{ entity_key }} STRING,
  erased_at TIMESTAMP
)
{%- endmacro %}

{#- True unless the row ({{ alias }}, with its card's pseudonym) was made at ``at`` (an
    expression), before its card's erasure. -#}
{% macro not_erased(alias, at) -%}
NOT EXISTS (
    SELECT 1 FROM `{{ dataset }}.card_erasures` AS erasure
    WHERE erasure.{{ entity_key }} = {{ alias }}.{{ entity_key }} AND {{ at }} < erasure.erased_at
  )
{%- endmacro %}

{#- True unless the card of the batch scoring row ({{ alias }}) was erased during the run: from an
    hour before its @run_after on. Not from run_after itself: an erasure records its start
    (CURRENT_TIMESTAMP) and commits later, so one that began before run_after may commit after
    the run's input (81) read the card; an erasure takes seconds to minutes. 80 leaves such a
    card's score out and 82 does not count it among the cards given, so the two agree. -#}
{% macro not_erased_during_run(alias) -%}
{{ not_erased(alias, "TIMESTAMP_SUB(CAST(@run_after AS TIMESTAMP), INTERVAL 1 HOUR)") }}
{%- endmacro %}
