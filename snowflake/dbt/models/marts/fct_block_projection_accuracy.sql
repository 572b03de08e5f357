{{ config(
    materialized='incremental',
    unique_key='height',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ ensure_column('source_loaded_at', 'timestamp_ntz') }}",
        "{{ ensure_column('projection_loaded_at', 'timestamp_ntz') }}",
        "{{ drop_rows_of_replaced_blocks() }}",
    ]
) }}

with blocks as (

    select * from {{ ref('fct_blocks') }}

),

projections as (

    select * from {{ ref('stg_silver__block_projections') }}

),

block_txids as (

    select * from {{ ref('stg_silver__block_txids') }}

),

{% if is_incremental() %}
-- Heights to (re)examine: a block new or re-flagged since this model last ran, a
-- projection or the mined txids that reached SILVER since then (in any order). The
-- watermark is the newest source time the model has read, not its own clock: a row
-- committed while the last run was reading is still ahead of it.
changed_heights as (

    select height from blocks
    where silver_updated_at >= {{ watermark('source_loaded_at') }}
    union
    select blocks.height from projections
    inner join blocks on blocks.block_hash = projections.ended_by_hash
    where projections.loaded_at >= {{ watermark('source_loaded_at') }}
    union
    select blocks.height from block_txids
    inner join blocks on blocks.block_hash = block_txids.block_hash
    where block_txids.loaded_at >= {{ watermark('source_loaded_at') }}
    union
    -- A projection a later rebuild of its connection no longer has.
    select height from {{ this }}
    where projected_state_id is not null
        and projected_state_id not in (
            select projected_state_id from projections where projected_state_id is not null
        )

),
{% endif %}

in_scope as (

    select * from blocks
    {% if is_incremental() %}
    where height in (select height from changed_heights)
    {% endif %}

),

projection_for_block as (

    -- The projection this very block ended: what stood on a connection when the block
    -- arrived as the next height (BUILD_PROJECTED records no other). A block that
    -- replaced another at its height in a reorg ended none, and is not scored. Of several
    -- connections, the one that saw the block first (FCT_BLOCKS' first sighting), then
    -- the projection made last, ties by id: the same every run, and a second streamer's
    -- later copy of the same moment changes nothing.
    select projections.*
    from projections
    inner join in_scope on in_scope.block_hash = projections.ended_by_hash
        and in_scope.height = projections.height
    -- A state older than an hour when the block came was no projection of it (a
    -- connection whose updates stopped): gold's own test bounds it there.
    where datediff('second', projections.projected_at, projections.block_seen_at)
        between 0 and 3600
    qualify row_number() over (
        partition by projections.ended_by_hash
        order by
            projections.block_seen_at,
            projections.projected_at desc,
            projections.block_projection_id desc
    ) = 1

),

{% if is_incremental() %}
previous as (

    -- What the last run counted, per height: the overlap depends only on the projection
    -- compared (its state, as last written) and the mined block's txids, which never
    -- change once loaded.
    select height, block_hash, projected_state_id, projection_loaded_at, matched_tx_count
    from {{ this }}
    where is_mined_txids_known and matched_tx_count is not null

),
{% endif %}

compared as (

    -- Each height with a projection, and the count already made for this very pair
    -- (the block, and the projection as last written), if any.
    select
        b.height,
        b.block_hash,
        p.txids as projected,
        {% if is_incremental() -%}
        previous.matched_tx_count as previous_matched_tx_count
        {%- else -%}
        cast(null as number) as previous_matched_tx_count
        {%- endif %}
    from in_scope as b
    inner join projection_for_block as p on p.height = b.height
    {% if is_incremental() %}
    left join previous
        on previous.height = b.height
        and previous.block_hash = b.block_hash
        and previous.projected_state_id = p.projected_state_id
        and previous.projection_loaded_at = p.loaded_at
    {% endif %}

),

to_count as (

    -- Heights whose overlap is counted in this run: the mined txids are known and this
    -- pair has no count yet. Counting flattens thousands of txids a block, the costly
    -- part of the model; a height re-examined for anything else (a neighbour
    -- re-flagged, a row in the watermark's lookback) keeps the count it had.
    select c.height, c.projected, t.txids as mined
    from compared as c
    inner join block_txids as t on t.block_hash = c.block_hash
    where c.previous_matched_tx_count is null

),

projected_txids as (

    select c.height, tx.value::varchar as txid
    from to_count as c,
        lateral flatten(input => c.projected) as tx

),

mined_txids as (

    select c.height, tx.value::varchar as txid
    from to_count as c,
        lateral flatten(input => c.mined) as tx

),

overlap as (

    select projected_txids.height, count(*) as matched_tx_count
    from projected_txids
    inner join mined_txids
        on mined_txids.height = projected_txids.height
        and mined_txids.txid = projected_txids.txid
    group by 1

),

matched as (

    -- The count already made, else this run's: a height counted now and matching nothing
    -- has no overlap row (zero). A height whose mined txids are unknown gets no count in
    -- the final select, whatever this says.
    select
        c.height,
        coalesce(c.previous_matched_tx_count, o.matched_tx_count, 0) as matched_tx_count
    from compared as c
    left join overlap as o on o.height = c.height

)

select
    b.block_hash,
    b.height,
    p.projected_state_id,
    p.projected_at,
    p.block_seen_at,
    datediff('millisecond', p.projected_at, p.block_seen_at) / 1000.0 as seconds_before_block,
    p.tx_count as projected_tx_count,
    -- tx_count counts the coinbase, which no projection contains.
    b.tx_count - 1 as mined_tx_count,
    b.tx_count - 1 - p.tx_count as tx_count_diff,
    p.total_fees_sat as projected_fees_sat,
    b.total_fees_sat as mined_fees_sat,
    b.total_fees_sat - p.total_fees_sat as fee_diff_sat,
    case when p.total_fees_sat > 0
         then (b.total_fees_sat - p.total_fees_sat) * 100.0 / p.total_fees_sat end as fee_diff_pct,
    t.block_hash is not null as is_mined_txids_known,
    case when p.block_projection_id is not null and t.block_hash is not null
         then m.matched_tx_count end as matched_tx_count,
    -- Our own audit: the share of the projected transactions that this block mined.
    case when p.tx_count > 0 and t.block_hash is not null
         then round(m.matched_tx_count * 100.0 / p.tx_count, 2) end as tx_overlap_pct,
    -- mempool.space's own score, for comparison.
    b.match_rate_pct,
    p.loaded_at as projection_loaded_at,
    {{ latest('b.silver_updated_at', 'p.loaded_at', 't.loaded_at') }} as source_loaded_at
from in_scope as b
left join projection_for_block as p on p.ended_by_hash = b.block_hash
left join block_txids as t on t.block_hash = b.block_hash
left join matched as m on m.height = b.height
