{{ config(materialized='view', schema='ops') }}

-- How old the newest row of each SILVER and GOLD table is, against the age it should
-- never exceed (OPS.FRESHNESS_TARGETS, which the deploy writes from its settings: the
-- source's own cadence plus the pipeline's budget, and for gold the refresh schedule on
-- top). Ages are measured on the data's own UTC clock (when our clients received it),
-- so a quiet source shows as old, not as a broken pipeline, only once it is quieter
-- than its target allows. A table with no target is never fresh: it says so.
{%- set tables = [
    ('SILVER', 'MEMPOOL_INFO', source('silver', 'mempool_info'), 'received_at'),
    ('SILVER', 'RECOMMENDED_FEES', source('silver', 'recommended_fees'), 'received_at'),
    ('SILVER', 'VBYTES_PER_SECOND', source('silver', 'vbytes_per_second'), 'received_at'),
    ('SILVER', 'MEMPOOL_BLOCKS', source('silver', 'mempool_blocks'), 'received_at'),
    ('SILVER', 'PROJECTED_BLOCK_STATES', source('silver', 'projected_block_states'), 'received_at'),
    ('SILVER', 'PRICES', source('silver', 'prices'), 'received_at'),
    ('SILVER', 'BLOCKS', source('silver', 'blocks'), 'first_seen_at'),
    ('SILVER', 'BLOCK_TXIDS', source('silver', 'block_txids'), 'received_at'),
    ('SILVER', 'BLOCK_PROJECTIONS', source('silver', 'block_projections'), 'block_seen_at'),
    ('GOLD', 'FCT_MEMPOOL_MINUTELY', ref('fct_mempool_minutely'), 'minute_at'),
    ('GOLD', 'FCT_MEMPOOL_BLOCKS', ref('fct_mempool_blocks'), 'minute_at'),
    ('GOLD', 'FCT_PROJECTED_BLOCK', ref('fct_projected_block'), 'projected_at'),
    ('GOLD', 'FCT_PRICES', ref('fct_prices'), 'received_at'),
    ('GOLD', 'FCT_PRICES_HOURLY', ref('fct_prices_hourly'), 'hour_at'),
    ('GOLD', 'FCT_BLOCKS', ref('fct_blocks'), 'first_seen_at'),
    ('GOLD', 'FCT_BLOCK_PROJECTION_ACCURACY', ref('fct_block_projection_accuracy'), 'block_seen_at'),
    ('GOLD', 'FCT_FEE_RECOMMENDATION_ACCURACY', ref('fct_fee_recommendation_accuracy'), 'first_seen_at'),
    ('GOLD', 'FCT_DAILY_SUMMARY', ref('fct_daily_summary'), 'day'),
] %}

with sampling as (
    -- Since when the pipeline has been receiving the mempool: a table that has had no
    -- row yet (projection accuracy needs a block after a projection, block txids a new
    -- block) is not behind until the pipeline has run longer than its target. An empty
    -- MEMPOOL_INFO has no such excuse: nothing arrives at all.
    select min(received_at)::timestamp_ntz as first_sample_at
    from {{ source('silver', 'mempool_info') }}
),

newest as (
    {% for schema, name, relation, column in tables %}
    select
        '{{ schema }}' as table_schema,
        '{{ name }}' as table_name,
        max({{ column }})::timestamp_ntz as newest_row_at
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

{#- With nobody watching Live, SILVER refreshes only every silver_idle_minutes
    (SILVER_TICK): a table waiting for that refresh is idle, not stalled. The alert and
    `mempool status` judge the target with that allowance; Live, whose open page has
    SILVER refreshed at each trigger interval, warns against OPS.FRESHNESS_TARGETS'
    TARGET_MINUTES alone. #}
{%- set target = "(targets.target_minutes + coalesce(targets.idle_minutes, 0))" %}

select
    newest.table_schema,
    newest.table_name,
    newest_row_at,
    datediff('second', newest_row_at, sysdate()) / 60.0 as age_minutes,
    {{ target }} as target_minutes,
    coalesce(
        datediff('second', newest_row_at, sysdate()) / 60.0 <= {{ target }},
        newest_row_at is null
            and datediff('second', sampling.first_sample_at, sysdate()) / 60.0
                <= {{ target }},
        false
    ) as is_fresh
from newest
cross join sampling
left join {{ source('ops', 'freshness_targets') }} as targets
    on targets.table_schema = newest.table_schema and targets.table_name = newest.table_name
