select
    event_key as mempool_info_id,
    origin_id,
    received_at,
    tx_count,
    size_bytes as vsize,
    usage_bytes,
    total_fee_btc,
    total_fee_sat,
    min_fee_btc_per_kvb,
    min_fee_sat_per_vb,
    loaded_at
from {{ source('silver', 'mempool_info') }}
