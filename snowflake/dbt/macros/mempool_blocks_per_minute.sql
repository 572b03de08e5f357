{#
  The projected blocks as they stood at the end of each minute (the minute's newest
  frame of any streamer, whole: copies of one broadcast are the same strip), each with
  its highest fee rate. Shared by the history mart (fct_mempool_blocks) and Live's view
  of the latest strip. `where` limits the frames
  read; the caller's WITH clause must be open, and it selects from the last of these
  CTEs, mempool_blocks_per_minute.
#}
{% macro mempool_blocks_per_minute(where='') -%}
last_frame_per_minute as (

    select
        date_trunc('minute', received_at) as minute_at,
        event_key,
        max(loaded_at) over (partition by date_trunc('minute', received_at)) as loaded_at
    from {{ ref('stg_silver__mempool_blocks') }}
    {{ where }}
    qualify row_number() over (
        partition by date_trunc('minute', received_at)
        order by received_at desc, event_key desc
    ) = 1

),

snapshot as (

    select b.*, f.minute_at, f.loaded_at as source_loaded_at
    from last_frame_per_minute as f
    -- A frame's blocks share its receive time, so `where` keeps them all and lets
    -- this side prune too.
    inner join (select * from {{ ref('stg_silver__mempool_blocks') }} {{ where }}) as b
        on b.event_key = f.event_key

),

-- A fee range's last point is its highest; the last block's range is longer.
highest_rate as (

    select s.mempool_block_id, max(r.value::float) as max_fee_rate_sat_per_vb
    from snapshot as s,
        lateral flatten(input => s.fee_range) as r
    group by 1

),

mempool_blocks_per_minute as (

    select
        datediff('second', '1970-01-01'::timestamp_ntz, b.minute_at) || ':' || b.block_index
            as mempool_block_id,
        b.minute_at,
        b.block_index,
        b.received_at,
        b.block_size_bytes,
        b.block_vsize,
        b.tx_count,
        b.total_fees_sat,
        {{ sat_to_btc('b.total_fees_sat') }} as total_fees_btc,
        b.median_fee_rate_sat_per_vb,
        b.min_fee_rate_sat_per_vb,
        h.max_fee_rate_sat_per_vb,
        b.source_loaded_at
    from snapshot as b
    left join highest_rate as h on h.mempool_block_id = b.mempool_block_id

)
{%- endmacro %}
