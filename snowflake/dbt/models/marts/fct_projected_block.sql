{{ config(
    materialized='incremental',
    unique_key='projected_state_id',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ ensure_column('loaded_at', 'timestamp_ntz') }}",
        "{{ ensure_column('total_fees_btc', 'number(38, 8)', sat_to_btc('total_fees_sat')) }}",
        "{{ drop_states_a_rebuild_dropped() }}",
        "{{ drop_states_to_refollow() }}",
    ],
    post_hook=["{{ drop_unfollowed_states() }}"]
) }}

{#
  One line per time, however many streamers watch: at each moment gold follows one
  connection, of those live then (from their first state to their last, plus
  `connection_handoff_seconds`) the one that started earliest, ties by origin id. A
  connection is followed until it ends, then the longest-running survivor takes over,
  and a reconnecting streamer (a later start) never takes the line back: no flapping,
  and one streamer or two watching one server give the same states. SILVER keeps every
  connection's states and epochs.

  A late delta rebuilds its connection's states from the last full set, all stamped
  anew (LOADED_AT); the pre-hooks first remove the states of that range a rebuild no
  longer has, and every state from the refollow bound on, which this run decides again;
  the post-hook removes any state the rule, on SILVER as it is now, does not follow.
#}

with connections as (

    {{ projected_connections() }}

),

-- A state is followed when no connection that outranks its own was live at its time.
followed as (

    select s.*
    from {{ ref('stg_silver__projected_block_states') }} as s
    inner join connections as c on c.origin_id = s.origin_id
    where (c.outranked_until is null or s.projected_at > c.outranked_until)
    {% if is_incremental() %}
        and s.projected_at >= {{ projected_refollow_from() }}
    {% endif %}

)

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
from followed
