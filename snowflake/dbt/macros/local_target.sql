{#
  Adjustments for the local target only. fakesnow has no session-scoped temporary
  tables, so dbt's incremental scratch relation is a transient table there; and dbt
  wraps MERGE in a transaction fakesnow cannot run, so the local target uses
  delete+insert. Production targets keep Snowflake's behaviour (temporary scratch
  tables, MERGE). Model contracts are not used in this project.
#}
{% macro snowflake__create_table_temporary_sql(relation, compiled_code) -%}
{%- set sql_header = config.get('sql_header', none) -%}
{{ sql_header if sql_header is not none }}
create or replace {{ 'transient' if target.name == 'local' else 'temporary' }} table {{ relation }}
as (
    {{ compiled_code }}
    )
;
{%- endmacro %}

{% macro incremental_strategy() -%}
    {{ return('delete+insert' if target.name == 'local' else 'merge') }}
{%- endmacro %}
