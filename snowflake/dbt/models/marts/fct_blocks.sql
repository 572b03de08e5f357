{{ config(
    materialized='incremental',
    unique_key='height',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ ensure_column('total_fees_btc', 'number(38, 8)', sat_to_btc('total_fees_sat')) }}",
        "{{ ensure_column('reward_btc', 'number(38, 8)', sat_to_btc('reward_sat')) }}",
        "{{ ensure_column('p10_fee_rate_sat_per_vb', 'float', 's.p10_fee_rate_sat_per_vb',
                          'select block_hash, p10_fee_rate_sat_per_vb from '
                          ~ ref('stg_silver__blocks'), 'block_hash') }}",
        "{{ drop_heights_without_their_block() }}",
    ]
) }}

with canonical as (

    select * from {{ ref('stg_silver__blocks') }}
    where is_canonical
    -- One block per height whatever SILVER holds: the first seen, as the chain's own rule.
    qualify row_number() over (partition by height order by first_seen_at, block_hash) = 1

),

in_scope as (

    select * from canonical
    {% if is_incremental() %}
    -- Blocks that are new, or whose canonical flag or first sighting changed since the
    -- last run, however old their height (late history, a reorg); and the block above
    -- each, whose time since its predecessor depends on it.
    where height in (
        select height from canonical
        where updated_at >= {{ watermark('silver_updated_at') }}
        union
        select height + 1 from canonical
        where updated_at >= {{ watermark('silver_updated_at') }}
    )
    {% endif %}

)

select
    b.height,
    b.block_hash,
    b.previous_block_hash,
    b.mined_at,
    b.first_seen_at,
    b.tx_count,
    b.size_bytes,
    b.weight_wu,
    b.vsize,
    b.total_fees_sat,
    {{ sat_to_btc('b.total_fees_sat') }} as total_fees_btc,
    b.median_fee_rate_sat_per_vb,
    b.min_fee_rate_sat_per_vb,
    b.p10_fee_rate_sat_per_vb,
    b.max_fee_rate_sat_per_vb,
    b.reward_sat,
    {{ sat_to_btc('b.reward_sat') }} as reward_btc,
    b.pool_name,
    b.pool_slug,
    b.match_rate_pct,
    b.mined_at_s - previous.mined_at_s as seconds_since_previous_block,
    -- The newest SILVER change this row reflects (its own block's or its predecessor's).
    {{ latest('b.updated_at', 'previous.updated_at') }} as silver_updated_at
from in_scope as b
left join canonical as previous
    on previous.height = b.height - 1
