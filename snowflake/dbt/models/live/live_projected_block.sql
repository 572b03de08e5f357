-- The projected next block as SILVER's newest valid state has it, on whichever
-- connection received it last (fct_projected_block keeps the followed connection's
-- states for history; for the newest state, the freshest copy is the better answer).
select
    projected_state_id,
    origin_id,
    frame_seq,
    projected_at,
    tx_count,
    total_fees_sat,
    {{ sat_to_btc('total_fees_sat') }} as total_fees_btc,
    total_vsize,
    fee_rate_min,
    fee_rate_p10,
    fee_rate_p25,
    fee_rate_p50,
    fee_rate_p75,
    fee_rate_p90,
    fee_rate_max,
    loaded_at
from {{ ref('stg_silver__projected_block_states') }}
-- projected_at is SILVER's RECEIVED_AT renamed: the filter prunes on it.
where is_valid and projected_at >= {{ live_window_start() }}
qualify row_number() over (order by projected_at desc, frame_seq desc, origin_id desc) = 1
