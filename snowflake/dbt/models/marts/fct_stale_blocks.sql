with blocks as (

    select * from {{ ref('stg_silver__blocks') }}

)

select
    stale.block_hash,
    stale.height,
    stale.mined_at,
    stale.first_seen_at,
    stale.pool_name,
    stale.tx_count,
    stale.total_fees_sat,
    replacement.block_hash as replaced_by_block_hash,
    replacement.pool_name as replaced_by_pool_name
from blocks as stale
left join blocks as replacement
    on replacement.height = stale.height
    and replacement.is_canonical
where stale.is_stale
