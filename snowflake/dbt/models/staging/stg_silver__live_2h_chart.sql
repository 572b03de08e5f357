select
    event_key as live_2h_chart_id,
    {{ origin_of('event_key') }} as origin_id,
    received_at,
    added_at_s,
    tx_count,
    vbytes_per_second,
    mempool_byte_weight,
    total_fee_sat,
    min_fee,
    vsizes,
    loaded_at
from {{ source('silver', 'live_2h_chart') }}
