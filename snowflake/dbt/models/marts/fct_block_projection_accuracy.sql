{{ config(
    materialized='incremental',
    unique_key='height',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns'
) }}

with blocks as (

    select * from {{ ref('fct_blocks') }}
    {% if is_incremental() %}
    -- The heights fct_blocks (re)wrote since this model last ran.
    where silver_updated_at >= (
        select coalesce(max(block_updated_at), '1970-01-01'::timestamp_ntz) from {{ this }}
    )
    {% endif %}

),

projections as (

    select * from {{ ref('fct_projected_block') }}
    where is_valid

),

last_before_block as (

    -- The newest valid projection we had before we first saw the block (within 30 min);
    -- a block with none still gets its row, so a reorg always replaces the height's row.
    select
        blocks.block_hash,
        blocks.height,
        blocks.first_seen_at,
        blocks.tx_count,
        blocks.total_fees_sat,
        blocks.match_rate_pct,
        blocks.silver_updated_at,
        projections.projected_state_id,
        projections.projected_at,
        projections.tx_count as projected_tx_count,
        projections.total_fees_sat as projected_fees_sat
    from blocks
    left join projections
        on projections.projected_at < blocks.first_seen_at
        and projections.projected_at >= dateadd('minute', -30, blocks.first_seen_at)
    qualify row_number() over (
        partition by blocks.block_hash
        order by projections.projected_at desc, projections.projected_state_id desc
    ) = 1

)

select
    block_hash,
    height,
    projected_state_id,
    projected_at,
    first_seen_at as block_seen_at,
    datediff('millisecond', projected_at, first_seen_at) / 1000.0 as seconds_before_block,
    projected_tx_count,
    -- tx_count counts the coinbase, which no projection contains.
    tx_count - 1 as mined_tx_count,
    tx_count - 1 - projected_tx_count as tx_count_diff,
    projected_fees_sat,
    total_fees_sat as mined_fees_sat,
    total_fees_sat - projected_fees_sat as fee_diff_sat,
    case when projected_fees_sat > 0
         then (total_fees_sat - projected_fees_sat) * 100.0 / projected_fees_sat end as fee_diff_pct,
    -- mempool.space's own share of the projected transactions that were mined.
    match_rate_pct as tx_overlap_pct,
    silver_updated_at as block_updated_at
from last_before_block
