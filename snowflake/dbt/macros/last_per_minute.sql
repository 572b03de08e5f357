{#
  Each minute's rows from one origin: the origin (connection or poll run) with the most
  rows in that minute, ties by origin id. For what averages a minute's samples: several
  streamers sample the same broadcasts, so one origin per minute keeps the average that
  of one feed, the same whether one streamer sampled the minute or two; a streamer that
  joined or left mid-minute has fewer rows and is not chosen. Adds `minute_at` and
  `minute_loaded_at`, the newest time any of the minute's rows (of every origin)
  reached SILVER: the minute's watermark. `where` limits the rows.
#}
{% macro leading_origin_rows(relation, where='') -%}
    select *
    from (
        select
            r.*,
            date_trunc('minute', r.received_at) as minute_at,
            max(r.loaded_at) over (partition by date_trunc('minute', r.received_at))
                as minute_loaded_at,
            count(*) over (
                partition by date_trunc('minute', r.received_at), r.origin_id
            ) as origin_rows
        from {{ relation }} as r
        {{ where }}
    )
    qualify dense_rank() over (partition by minute_at order by origin_rows desc, origin_id) = 1
{%- endmacro %}

{#
  The state at the end of each minute: its newest row of any origin (by receive time,
  ties broken by key), with the newest time any of the minute's rows reached SILVER
  (`loaded_at`, the minute's watermark). Streamers receive the same broadcasts, so the
  newest row is the same values whichever of them has it, and the freshest when one
  of them went down mid-minute. `where` limits the rows read.
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
