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

    {{ canonical_blocks() }}

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

{{ blocks_with_previous('in_scope', 'canonical') }}
