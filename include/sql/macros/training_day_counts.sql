{#- The training table's counts per UTC event date: its rows, the sum of their labels and the
    rows without card history (seconds_since_prev_txn null). The checks about the whole table
    (50_quality_checks.sql) read these instead of every published row, which on BigQuery cost
    each run more with every day of history; 55_publish.sql counts again the days it changed,
    96_erase_card.sql every day. -#}

{#- The counts of the rows of ``rows`` (an alias of the training table or its candidate). -#}
{% macro day_counts(rows) -%}
COUNT(*) AS row_count,
  IFNULL(SUM({{ rows }}.{{ label }}), 0) AS label_sum,
  COUNTIF({{ rows }}.seconds_since_prev_txn IS NULL) AS no_history_rows
{%- endmacro %}

{#- The training table's rows as its day counts add them up, and as the table counts them (a
    COUNT(*), which reads no column on BigQuery): dq_day_counts (50) asserts they are equal, the
    plan step (17) counts an older warehouse's days when the first is 0 and the second is not. -#}
{% macro counted_rows() -%}
(SELECT IFNULL(SUM(d.row_count), 0) FROM `{{ dataset }}.training_day_counts` AS d)
{%- endmacro %}

{% macro table_rows() -%}
(SELECT COUNT(*) FROM `{{ dataset }}.{{ training_table }}`)
{%- endmacro %}

{#- The first day publishing changes: every candidate row is at or after @event_from plus the
    widest window (55_publish.sql), so earlier days keep their published counts. A constant:
    BigQuery reads only the partitions from it on. -#}
{% macro first_changed_day() -%}
TIMESTAMP_TRUNC(TIMESTAMP_ADD(CAST(@event_from AS TIMESTAMP), INTERVAL {{ widest_window_seconds }} SECOND), DAY)
{%- endmacro %}

{#- The days from ``from_day`` on (a TIMESTAMP at midnight UTC), counted from the published table. -#}
{% macro count_days_from(from_day) -%}
INSERT INTO `{{ dataset }}.training_day_counts` (event_date, row_count, label_sum, no_history_rows)
SELECT DATE(t.{{ event_time }}) AS event_date, {{ day_counts('t') }}
FROM `{{ dataset }}.{{ training_table }}` AS t
WHERE t.{{ event_time }} >= {{ from_day }}
GROUP BY event_date
{%- endmacro %}

{#- Every day counted again from the published table (after an erasure; for a warehouse filled
    before the day counts existed). -#}
{% macro recount_all_days() -%}
DELETE FROM `{{ dataset }}.training_day_counts` WHERE TRUE;
{{ count_days_from("TIMESTAMP '0001-01-01 00:00:00'") }};
{%- endmacro %}
