with blocks as (

    select
        mined_at::date as day,
        count(*) as block_count,
        sum(total_fees_sat) as total_fees_sat,
        sum(reward_sat) as total_reward_sat,
        percentile_cont(0.5) within group (order by median_fee_rate_sat_per_vb)
            as median_block_fee_rate_sat_per_vb,
        percentile_cont(0.9) within group (order by median_fee_rate_sat_per_vb)
            as p90_block_fee_rate_sat_per_vb,
        avg(seconds_since_previous_block) as avg_seconds_between_blocks
    from {{ ref('fct_blocks') }}
    group by 1

),

mempool as (

    select
        minute_at::date as day,
        max(tx_count) as peak_mempool_tx_count,
        max(vsize) as peak_mempool_vsize,
        max(total_fee_sat) as peak_mempool_fee_sat,
        max(fastest_fee_sat_per_vb) as peak_fastest_fee_sat_per_vb
    from {{ ref('fct_mempool_minutely') }}
    group by 1

),

prices as (

    select
        priced_at::date as day,
        avg(usd_per_btc) as avg_usd_per_btc,
        min(usd_per_btc) as low_usd_per_btc,
        max(usd_per_btc) as high_usd_per_btc
    from {{ ref('fct_prices') }}
    group by 1

),

days as (

    select day from blocks
    union
    select day from mempool
    union
    select day from prices

)

select
    days.day,
    coalesce(blocks.block_count, 0) as block_count,
    coalesce(blocks.total_fees_sat, 0) as total_fees_sat,
    {{ sat_to_btc("coalesce(blocks.total_fees_sat, 0)") }} as total_fees_btc,
    blocks.total_reward_sat,
    blocks.median_block_fee_rate_sat_per_vb,
    blocks.p90_block_fee_rate_sat_per_vb,
    blocks.avg_seconds_between_blocks,
    mempool.peak_mempool_tx_count,
    mempool.peak_mempool_vsize,
    mempool.peak_mempool_fee_sat,
    mempool.peak_fastest_fee_sat_per_vb,
    prices.avg_usd_per_btc,
    prices.low_usd_per_btc,
    prices.high_usd_per_btc,
    {{ sat_to_btc("coalesce(blocks.total_fees_sat, 0)") }} * prices.avg_usd_per_btc as total_fees_usd
from days
left join blocks on blocks.day = days.day
left join mempool on mempool.day = days.day
left join prices on prices.day = days.day
