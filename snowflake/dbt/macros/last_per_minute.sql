{#
  Each minute's rows from one origin: the origin (connection or poll run) with the most
  rows in that minute (`counted` says what a row is worth, e.g. one per frame), ties by
  origin id. Several streamers sample the same broadcasts, so one origin per minute keeps
  a minute's figures those of one coherent feed, and the same whether one streamer
  sampled it or two: a streamer that joined or left mid-minute has fewer rows and is not
  chosen. Adds `minute_at` and `minute_loaded_at`, the newest time any of the minute's
  rows (of every origin) reached SILVER: the minute's watermark. `where` limits the rows.
#}
{% macro leading_origin_rows(relation, where='', counted='1') -%}
    select *
    from (
        select
            r.*,
            date_trunc('minute', r.received_at) as minute_at,
            max(r.loaded_at) over (partition by date_trunc('minute', r.received_at))
                as minute_loaded_at,
            sum({{ counted }}) over (
                partition by date_trunc('minute', r.received_at), r.origin_id
            ) as origin_rows
        from {{ relation }} as r
        {{ where }}
    )
    qualify dense_rank() over (partition by minute_at order by origin_rows desc, origin_id) = 1
{%- endmacro %}

{#
  The state at the end of each minute: the leading origin's last row (by receive time,
  ties broken by key), with the minute's watermark as `loaded_at`.
#}
{% macro last_per_minute(relation, key, columns, where='') -%}
    select
        minute_at,
        {{ columns | join(',\n        ') }},
        minute_loaded_at as loaded_at
    from ({{ leading_origin_rows(relation, where) }})
    qualify row_number() over (
        partition by minute_at
        order by received_at desc, {{ key }} desc
    ) = 1
{%- endmacro %}
