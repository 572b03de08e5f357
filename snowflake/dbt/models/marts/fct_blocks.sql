{{ config(
    materialized='incremental',
    unique_key='height',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns'
) }}

with canonical as (

    select * from {{ ref('stg_silver__blocks') }}
    where is_canonical

),

in_scope as (

    select * from canonical
    {% if is_incremental() %}
    -- Blocks that are new, or whose canonical flag changed (a reorg), since the last
    -- run, however old their height: late history from the poller or a backfill too.
    where updated_at >= (
        select coalesce(max(silver_updated_at), '1970-01-01'::timestamp_ntz) from {{ this }}
    )
    {% endif %}

)

select
    b.height,
    b.block_hash,
    b.previous_block_hash,
    b.mined_at,
    b.first_seen_at,
    b.tx_count,
    b.size_bytes,
    b.weight_wu,
    b.vsize,
    b.total_fees_sat,
    b.total_fees_sat / 100000000 as total_fees_btc,
    b.median_fee_rate_sat_per_vb,
    b.min_fee_rate_sat_per_vb,
    b.max_fee_rate_sat_per_vb,
    b.reward_sat,
    b.reward_sat / 100000000 as reward_btc,
    b.pool_name,
    b.pool_slug,
    b.match_rate_pct,
    b.mined_at_s - previous.mined_at_s as seconds_since_previous_block,
    b.updated_at as silver_updated_at
from in_scope as b
left join canonical as previous
    on previous.height = b.height - 1
