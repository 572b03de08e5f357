{{ config(
    materialized='incremental',
    unique_key='projected_state_id',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ ensure_column('loaded_at', 'timestamp_ntz') }}",
        "{{ ensure_column('total_fees_btc', 'number(38, 8)', sat_to_btc('total_fees_sat')) }}",
        "{{ drop_states_a_rebuild_dropped() }}",
    ]
) }}

{#
  A late delta rebuilds its connection's states from the last full set, all stamped
  anew (LOADED_AT): the rows loaded since the last run are the rebuilt range, and the
  pre-hook first removes the states of that range a rebuild no longer has.
#}

select
    projected_state_id,
    origin_id,
    frame_seq,
    sequence,
    projected_at,
    is_full_set,
    is_valid,
    flags,
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
{% if is_incremental() %}
where loaded_at >= {{ watermark('loaded_at') }}
{% endif %}
