select
    event_key || ':' || block_index as mempool_block_id,
    event_key,
    {{ origin_of('event_key') }} as origin_id,
    block_index,
    received_at,
    block_size_bytes,
    block_vsize,
    tx_count,
    total_fees_sat,
    median_fee_rate as median_fee_rate_sat_per_vb,
    fee_range,
    fee_range[0]::float as min_fee_rate_sat_per_vb,
    loaded_at
from {{ source('silver', 'mempool_blocks') }}
