{{ config(
    materialized='incremental',
    unique_key='height',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns'
) }}

-- Would a transaction paying mempool.space's recommended "fastest" fee have made the
-- next block mined? Each recommendation sample is held against the first block we saw
-- after it: it would have made that block if it paid at least the block's lowest fee
-- rate. Both clocks are ours (the sample's receipt, the block's first sighting), since
-- block header times may be off by up to two hours. Blocks first seen long after they
-- were mined (history from a backfill) have no samples of their own.

with live_blocks as (

    select
        height,
        block_hash,
        mined_at,
        first_seen_at,
        min_fee_rate_sat_per_vb,
        median_fee_rate_sat_per_vb,
        silver_updated_at,
        lag(first_seen_at) over (order by height) as previous_seen_at
    from {{ ref('fct_blocks') }}
    where first_seen_at <= dateadd('hour', 2, mined_at)

),

in_scope as (

    select * from live_blocks
    {% if is_incremental() %}
    -- New or re-flagged blocks, and recent ones, whose samples may still arrive late.
    where silver_updated_at >= (
            select coalesce(max(silver_updated_at), '1970-01-01'::timestamp_ntz) from {{ this }}
        )
        or first_seen_at >= (
            select dateadd('minute', -{{ var('late_arrival_minutes') }}, coalesce(max(first_seen_at), '1970-01-01'::timestamp_ntz))
            from {{ this }}
        )
    {% endif %}

),

samples as (

    select received_at, fastest_fee_sat_per_vb
    from {{ ref('stg_silver__recommended_fees') }}
    where received_at >= (select min(previous_seen_at) from in_scope)
        and fastest_fee_sat_per_vb is not null

),

scored as (

    select
        b.height,
        s.fastest_fee_sat_per_vb,
        s.fastest_fee_sat_per_vb >= b.min_fee_rate_sat_per_vb as is_included
    from in_scope as b
    inner join samples as s
        on s.received_at >= b.previous_seen_at
        and s.received_at < b.first_seen_at

),

per_block as (

    select
        height,
        count(*) as sample_count,
        count_if(is_included) as included_sample_count,
        min(fastest_fee_sat_per_vb) as min_fastest_fee_sat_per_vb,
        avg(fastest_fee_sat_per_vb) as avg_fastest_fee_sat_per_vb,
        max(fastest_fee_sat_per_vb) as max_fastest_fee_sat_per_vb
    from scored
    group by 1

)

select
    b.height,
    b.block_hash,
    b.mined_at,
    b.first_seen_at,
    b.previous_seen_at,
    b.min_fee_rate_sat_per_vb as block_min_fee_rate_sat_per_vb,
    b.median_fee_rate_sat_per_vb as block_median_fee_rate_sat_per_vb,
    coalesce(p.sample_count, 0) as sample_count,
    coalesce(p.included_sample_count, 0) as included_sample_count,
    round(p.included_sample_count * 100.0 / nullif(p.sample_count, 0), 2) as included_pct,
    p.min_fastest_fee_sat_per_vb,
    p.avg_fastest_fee_sat_per_vb,
    p.max_fastest_fee_sat_per_vb,
    -- What the recommendation paid above the block's median, on average (sat/vB).
    p.avg_fastest_fee_sat_per_vb - b.median_fee_rate_sat_per_vb as avg_overpay_vs_median_sat_per_vb,
    b.silver_updated_at
from in_scope as b
left join per_block as p on p.height = b.height
