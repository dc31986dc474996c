-- Every card's latest features and serving state in the online store's layout (local sync, batch scoring):
-- key, event time in UTC microseconds (exact, unlike float seconds), then each feature cast to
-- its declared type: DuckDB may widen an INT64 expression (a SUM to HUGEINT), which BigQuery
-- would not, and the store holds the declared types. Sorted by key so SQLite appends to its
-- B-tree instead of splitting pages.
SELECT
  {{ entity_key }},
  UNIX_MICROS({{ event_time }}) AS {{ event_time_column }},
{%- for name, type in store_features %}
  CAST({{ name }} AS {{ type }}) AS {{ name }},
{%- endfor %}
  -- the card's serving state (fraud_mlops.features.CardState), for request-time features
{%- for name, _ in state_columns %}
  {{ name }}{{ "," if not loop.last }}
{%- endfor %}
FROM `{{ dataset }}.{{ latest_features_view }}`
ORDER BY {{ entity_key }}
