{#
  The last row of each minute (by receive time, ties broken by key): the state at the
  end of that minute, with the newest time any of the minute's rows reached SILVER
  (`loaded_at`, the minute's watermark). `where` limits the rows read.
#}
{% macro last_per_minute(relation, key, columns, where='') -%}
    select
        date_trunc('minute', received_at) as minute_at,
        {{ columns | join(',\n        ') }},
        max(loaded_at) over (partition by date_trunc('minute', received_at)) as loaded_at
    from {{ relation }}
    {{ where }}
    qualify row_number() over (
        partition by date_trunc('minute', received_at)
        order by received_at desc, {{ key }} desc
    ) = 1
{%- endmacro %}
