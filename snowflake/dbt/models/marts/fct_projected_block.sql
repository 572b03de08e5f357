{{ config(
    materialized='incremental',
    unique_key='projected_state_id',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns'
) }}

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
    total_fees_sat / 100000000 as total_fees_btc,
    total_vsize,
    fee_rate_min,
    fee_rate_p10,
    fee_rate_p25,
    fee_rate_p50,
    fee_rate_p75,
    fee_rate_p90,
    fee_rate_max
from {{ ref('stg_silver__projected_block_states') }}
{% if is_incremental() %}
-- A late delta rebuilds its connection's states from the last full set: re-read a window.
where projected_at >= (
    select dateadd('minute', -{{ var('late_arrival_minutes') }}, coalesce(max(projected_at), '1970-01-01'::timestamp_ntz))
    from {{ this }}
)
{% endif %}
