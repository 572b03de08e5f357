-- History's blocks: fct_blocks below the heights Live shows, Live's view of SILVER's
-- canonical tip (`live_block_count` heights) from there up. A block mined after the
-- last REFRESH_GOLD run is on History's charts as soon as it is in SILVER, and a reorg
-- of the tip since that run shows the new chain, not the mart's orphan. More blocks
-- than the tip's count between two gold runs leave the heights in between out until
-- the next run (FRESHNESS_ALERT names FCT_BLOCKS once that is late).
{% set columns = [
    'height', 'block_hash', 'previous_block_hash', 'mined_at', 'first_seen_at',
    'tx_count', 'size_bytes', 'weight_wu', 'vsize', 'total_fees_sat', 'total_fees_btc',
    'median_fee_rate_sat_per_vb', 'min_fee_rate_sat_per_vb', 'p10_fee_rate_sat_per_vb',
    'max_fee_rate_sat_per_vb', 'reward_sat', 'reward_btc', 'pool_name', 'pool_slug',
    'match_rate_pct', 'seconds_since_previous_block', 'silver_updated_at',
] %}

with live as (

    select {{ columns | join(', ') }} from {{ ref('live_blocks') }}

)

select {{ columns | join(', ') }}, false as is_live
from {{ ref('fct_blocks') }}
-- An empty tip (no canonical block in SILVER yet) takes nothing from the mart away.
where height < coalesce((select min(height) from live), height + 1)

union all

select {{ columns | join(', ') }}, true as is_live
from live
