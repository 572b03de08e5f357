select
    origin_id || ':' || frame_seq::varchar as block_projection_id,
    origin_id,
    frame_seq,
    height,
    ended_by_hash,
    block_seen_at,
    origin_id || ':' || state_frame_seq::varchar as projected_state_id,
    projected_at,
    tx_count,
    total_fees_sat,
    txids,
    loaded_at
from {{ source('silver', 'block_projections') }}
