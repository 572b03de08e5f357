{#
  fct_projected_block's pre-hook: per connection, from the first frame rebuilt since the
  last run, the states SILVER no longer holds (a rebuild can end with fewer states than
  it replaced). Runs before the watermark moves.
#}
{% macro drop_states_a_rebuild_dropped() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where projected_state_id in (
        select gold.projected_state_id
        from {{ this }} as gold
        inner join (
            select origin_id, min(frame_seq) as first_frame_seq
            from {{ ref('stg_silver__projected_block_states') }}
            where loaded_at >= {{ watermark('loaded_at') }}
            group by 1
        ) as rebuilt
            on rebuilt.origin_id = gold.origin_id
            and gold.frame_seq >= rebuilt.first_frame_seq
        left join {{ ref('stg_silver__projected_block_states') }} as silver
            on silver.projected_state_id = gold.projected_state_id
        where silver.projected_state_id is null
    )
    {%- endif -%}
{%- endmacro %}
