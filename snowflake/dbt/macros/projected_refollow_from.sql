{#
  Each connection's span of projected-block states, and until when a connection that
  outranks it (started earlier, or at the same time with a lower id) is live: its last
  state plus `connection_handoff_seconds`. A connection's state is followed exactly when
  it is later than that (every outranking connection started no later than this one did,
  so only their ends matter), which makes the rule an equi-join on origin_id.
#}
{% macro projected_connections() -%}
    select
        origin_id,
        started_at,
        ended_at,
        dateadd(
            'second',
            {{ var('connection_handoff_seconds') }},
            max(ended_at) over (
                order by started_at, origin_id
                rows between unbounded preceding and 1 preceding
            )
        ) as outranked_until
    from (
        select origin_id, min(projected_at) as started_at, max(projected_at) as ended_at
        from {{ ref('stg_silver__projected_block_states') }}
        group by 1
    )
{%- endmacro %}

{#
  fct_projected_block's incremental bound: the earliest time whose followed connection
  the states loaded since the last run may have changed. New states extend their
  connection's span back to their own earliest time, and forward from where the
  connection ended before (its newest state loaded earlier): other connections' states
  in between may no longer be followed (or newly be). NULL when nothing new arrived.
#}
{% macro projected_refollow_from() -%}
    (
        select min(least(fresh.first_at, coalesce(earlier_loads.ended_at, fresh.first_at)))
        from (
            select origin_id, min(projected_at) as first_at
            from {{ ref('stg_silver__projected_block_states') }}
            where loaded_at >= {{ watermark('loaded_at') }}
            group by 1
        ) as fresh
        left join (
            select origin_id, max(projected_at) as ended_at
            from {{ ref('stg_silver__projected_block_states') }}
            where loaded_at < {{ watermark('loaded_at') }}
            group by 1
        ) as earlier_loads
            on earlier_loads.origin_id = fresh.origin_id
    )
{%- endmacro %}

{#
  fct_projected_block's pre-hook: the states from the refollow bound on are decided anew
  (the model inserts the followed ones). Runs before the watermark moves.
#}
{% macro drop_states_to_refollow() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where projected_at >= {{ projected_refollow_from() }}
    {%- endif -%}
{%- endmacro %}

{#
  fct_projected_block's post-hook: whatever the table holds that the rule, on SILVER as
  it is now, does not follow. It heals what no bound reaches: the history a release
  before the rule wrote (every connection's states), and a run whose pre-hooks and body
  saw different SILVER (a builder committed between them; each statement reads what was
  committed when it started). Cheap: an equi-join with one row per connection.
#}
{% macro drop_unfollowed_states() -%}
    delete from {{ this }} as gold
    using ({{ projected_connections() }}) as c
    where gold.origin_id = c.origin_id
        and c.outranked_until is not null
        and gold.projected_at <= c.outranked_until
{%- endmacro %}
