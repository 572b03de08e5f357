{#
  A pre-hook for incremental models whose columns changed between releases. An upgrade's
  first run would read a new column from the table an older release built (a watermark)
  before dbt's own on_schema_change adds it, and dbt never changes a column's type (a BTC
  column an older release made NUMBER(38, 6) would keep rounding to 100 sat). So, before
  the model runs: a missing column is added, a numeric column of another scale is made
  anew, and either is filled with `fill`, an expression over the table's own columns or,
  when `source` (a query, alias s) and `key` are given, over the source row with the same
  key: the rows already in gold then hold what the model would write today. Nothing
  to do when the table is built from scratch.
#}
{% macro ensure_column(column, data_type, fill=none, source=none, key=none) -%}
    {%- if is_incremental() -%}
        {%- set wanted = data_type | lower | replace(' ', '') -%}
        {%- set found = adapter.get_columns_in_relation(this)
            | selectattr('name', 'equalto', column | upper) | list -%}
        {%- set scale = wanted.split(',')[1].rstrip(')') if ',' in wanted else none -%}
        {%- if found and scale is not none and (found[0].numeric_scale | string) != scale -%}
            {% do run_query('alter table ' ~ this ~ ' drop column ' ~ column) %}
            {%- set found = [] -%}
        {%- endif -%}
        {%- if not found -%}
            {% do run_query('alter table ' ~ this ~ ' add column ' ~ column ~ ' ' ~ data_type) %}
            {%- if fill is not none -%}
                {%- set update -%}
                    {%- if source is none -%}
                    update {{ this }} set {{ column }} = {{ fill }}
                    {%- else -%}
                    update {{ this }} as t set {{ column }} = {{ fill }}
                    from ({{ source }}) as s where s.{{ key }} = t.{{ key }}
                    {%- endif -%}
                {%- endset -%}
                {% do run_query(update) %}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
