select
    block_hash,
    tx_count,
    txids,
    received_at,
    loaded_at
from {{ source('silver', 'block_txids') }}
