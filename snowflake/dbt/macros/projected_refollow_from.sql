{#
  fct_projected_block's incremental bound: the earliest time whose followed connection
  the states loaded since the last run may have changed. New states extend their
  connection's span back to their own earliest time, and forward from where the
  connection ended before (its newest state loaded earlier): other connections' states
  in between may no longer be followed (or newly be). NULL when nothing new arrived.
#}
{% macro projected_refollow_from() -%}
    (
        select min(least(new.first_at, coalesce(before.ended_at, new.first_at)))
        from (
            select origin_id, min(projected_at) as first_at
            from {{ ref('stg_silver__projected_block_states') }}
            where loaded_at >= {{ watermark('loaded_at') }}
            group by 1
        ) as new
        left join (
            select origin_id, max(projected_at) as ended_at
            from {{ ref('stg_silver__projected_block_states') }}
            where loaded_at < {{ watermark('loaded_at') }}
            group by 1
        ) as before
            on before.origin_id = new.origin_id
    )
{%- endmacro %}

{#
  fct_projected_block's pre-hook: the states from the refollow bound on are decided anew
  (the model inserts the followed ones). Runs before the watermark moves.
#}
{% macro drop_states_to_refollow() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where projected_at >= {{ projected_refollow_from() }}
    {%- endif -%}
{%- endmacro %}
