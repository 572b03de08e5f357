{{ config(
    materialized='incremental',
    unique_key='minute_at',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ ensure_column('source_loaded_at', 'timestamp_ntz') }}",
        "{{ ensure_column('total_fees_btc', 'number(38, 8)', sat_to_btc('total_fees_sat')) }}",
    ]
) }}

-- The projected blocks as they stood at the end of each minute: the strip of fee bands
-- mempool.space draws, kept as history at one snapshot a minute. A minute is replaced
-- whole (delete+insert by minute): a later frame with fewer projected blocks leaves
-- none of the earlier frame's extra blocks behind.
with

{% if is_incremental() %}
touched_minutes as (

    select distinct date_trunc('minute', received_at) as minute_at
    from {{ ref('stg_silver__mempool_blocks') }}
    where loaded_at >= {{ watermark('source_loaded_at') }}

),
{% endif %}

last_frame_per_minute as (

    select
        date_trunc('minute', received_at) as minute_at,
        event_key,
        max(loaded_at) over (partition by date_trunc('minute', received_at)) as loaded_at
    from {{ ref('stg_silver__mempool_blocks') }}
    {% if is_incremental() %}
    where received_at >= (select min(minute_at) from touched_minutes)
        and date_trunc('minute', received_at) in (select minute_at from touched_minutes)
    {% endif %}
    qualify row_number() over (
        partition by date_trunc('minute', received_at)
        order by received_at desc, event_key desc
    ) = 1

),

snapshot as (

    select b.*, f.minute_at, f.loaded_at as source_loaded_at
    from last_frame_per_minute as f
    inner join {{ ref('stg_silver__mempool_blocks') }} as b
        on b.event_key = f.event_key

),

-- A fee range's last point is its highest; the last block's range is longer.
highest_rate as (

    select s.mempool_block_id, max(r.value::float) as max_fee_rate_sat_per_vb
    from snapshot as s,
        lateral flatten(input => s.fee_range) as r
    group by 1

)

select
    datediff('second', '1970-01-01'::timestamp_ntz, b.minute_at) || ':' || b.block_index as mempool_block_id,
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
