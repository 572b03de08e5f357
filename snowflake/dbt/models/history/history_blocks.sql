-- History's blocks: fct_blocks below the heights SILVER is read for, and those heights
-- as SILVER's canonical chain has them now (the macros fct_blocks and Live's view
-- share). SILVER is read from `live_block_count` below the mart's highest block (the
-- lowest height read is only the predecessor of the next): however many blocks came
-- since the last REFRESH_GOLD run, none is missing, and a reorg of up to that depth
-- since then shows the new chain, not the mart's orphans. An empty mart (before gold's
-- first run) leaves the tip Live shows.
{% set columns = [
    'height', 'block_hash', 'previous_block_hash', 'mined_at', 'first_seen_at',
    'tx_count', 'size_bytes', 'weight_wu', 'vsize', 'total_fees_sat', 'total_fees_btc',
    'median_fee_rate_sat_per_vb', 'min_fee_rate_sat_per_vb', 'p10_fee_rate_sat_per_vb',
    'max_fee_rate_sat_per_vb', 'reward_sat', 'reward_btc', 'pool_name', 'pool_slug',
    'match_rate_pct', 'seconds_since_previous_block', 'silver_updated_at',
] %}
{% set depth = var('live_block_count') %}

with bounds as (

    select coalesce(
        (select max(height) from {{ ref('fct_blocks') }}),
        (select max(height) from {{ ref('stg_silver__blocks') }} where is_canonical)
    ) - {{ depth }} as lowest_read

),

canonical as (

    {{ canonical_blocks('and height >= (select lowest_read from bounds)') }}

),

fresh as (

    select * from canonical
    where height > (select lowest_read from bounds)

)

{{ blocks_with_previous('fresh', 'canonical') }}

union all

select {{ columns | join(', ') }}
from {{ ref('fct_blocks') }}
where height <= (select lowest_read from bounds)
