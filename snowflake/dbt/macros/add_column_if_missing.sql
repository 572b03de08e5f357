{#
  A pre-hook for incremental models that gained a column: an upgrade's first run reads
  the column from the table an older release built (its watermark), before dbt's own
  on_schema_change would add it. Nothing to do when the table is built from scratch.
#}
{% macro add_column_if_missing(column, data_type) -%}
    {%- if is_incremental() -%}
        alter table {{ this }} add column if not exists {{ column }} {{ data_type }}
    {%- endif -%}
{%- endmacro %}
