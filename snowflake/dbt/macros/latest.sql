{#
  The latest of several times, any of which may be NULL: Snowflake's GREATEST is NULL if
  any argument is (DuckDB's ignores them), so each is defaulted to the epoch first.
#}
{% macro latest() -%}
    greatest(
        {%- for column in varargs %}
        coalesce({{ column }}, '1970-01-01'::timestamp_ntz){{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}
