{#- Luhn checksum of a REVERSED digits-only string (up to 19 digits; reversed once by the caller), as plain arithmetic on SUBSTR so
    it runs unchanged on BigQuery and (transpiled) on DuckDB. Valid numbers give a multiple of 10. -#}
{% macro luhn_sum(reversed_digits) -%}
(
{%- for i in range(19) %}
  {%- set d = "GREATEST(STRPOS('0123456789', SUBSTR(" ~ reversed_digits ~ ", " ~ (i + 1) ~ ", 1)) - 1, 0)" %}
  {% if not loop.first %}+ {% endif %}{% if i % 2 == 0 %}{{ d }}{% else %}IF({{ d }} >= 5, 2 * {{ d }} - 9, 2 * {{ d }}){% endif %}
{%- endfor %}
)
{%- endmacro %}
