{#
  Where an incremental model picks up: the newest time its sources had when it last ran
  (`column`, kept on each row), less a slack. Sources stamp rows when they reach SILVER,
  not when a client received them, so a file that lands hours late is still new; the
  slack covers a builder's transaction still open while gold reads (its rows carry the
  time its statements started). Re-reading the slack's rows is idempotent.
#}
{% macro watermark(column) -%}
    (
        select dateadd(
            'minute', -{{ var('watermark_slack_minutes') }},
            coalesce(max({{ column }}), '1970-01-01'::timestamp_ntz)
        )
        from {{ this }}
    )
{%- endmacro %}
