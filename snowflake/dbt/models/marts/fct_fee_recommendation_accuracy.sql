{{ config(
    materialized='incremental',
    unique_key='height',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ ensure_column('source_loaded_at', 'timestamp_ntz') }}",
        "{{ drop_rows_of_replaced_blocks() }}",
    ]
) }}

-- Would a transaction paying mempool.space's recommended "fastest" fee have made the
-- next block mined? The method (docs/data-contract.md, "Fee-recommendation accuracy"):
-- - a sample is a minute's recommendation (its last, fct_mempool_minutely), so the score
--   counts minutes, whatever how many clients sampled them;
-- - a minute counts for the first block seen after it, if it ended at least
--   `fee_sample_lead_seconds` before that block was seen: a transaction sent later could
--   not have been in the template the block was mined from;
-- - it made the block if it paid at least the block's 10th-percentile fee rate: the
--   lowest rates in a block are often transactions whose parent or an out-of-band deal
--   paid for them, which no fee-paying newcomer can rely on.
-- Both clocks are ours (the minute's samples, the block's first sighting), since block
-- header times may be off by up to two hours. Blocks first seen long after they were
-- mined (history from a backfill) have no minutes of their own.

with blocks as (

    select
        b.height,
        b.block_hash,
        b.mined_at,
        b.first_seen_at,
        b.min_fee_rate_sat_per_vb,
        coalesce(b.p10_fee_rate_sat_per_vb, b.min_fee_rate_sat_per_vb)
            as p10_fee_rate_sat_per_vb,
        b.median_fee_rate_sat_per_vb,
        b.silver_updated_at,
        previous.first_seen_at as previous_seen_at,
        dateadd('second', -{{ var('fee_sample_lead_seconds') }}, b.first_seen_at)
            as samples_until
    from {{ ref('fct_blocks') }} as b
    left join {{ ref('fct_blocks') }} as previous
        on previous.height = b.height - 1
    where b.first_seen_at <= dateadd('hour', 2, b.mined_at)

),

minutes as (

    select
        minute_at,
        dateadd('minute', 1, minute_at) as minute_end_at,
        fastest_fee_sat_per_vb,
        source_loaded_at
    from {{ ref('fct_mempool_minutely') }}
    where fastest_fee_sat_per_vb is not null

),

{% if is_incremental() %}
-- Blocks new or changed since the last run (fct_blocks' time includes the block below,
-- whose sighting opens the window), and blocks whose window got a minute since then.
changed_heights as (

    select height from blocks
    where silver_updated_at >= {{ watermark('source_loaded_at') }}
    union
    select blocks.height
    from minutes
    inner join blocks
        on minutes.minute_at >= blocks.previous_seen_at
        and minutes.minute_end_at <= blocks.samples_until
    where minutes.source_loaded_at >= {{ watermark('source_loaded_at') }}

),
{% endif %}

in_scope as (

    select * from blocks
    {% if is_incremental() %}
    where height in (select height from changed_heights)
    {% endif %}

),

scored as (

    select
        b.height,
        m.fastest_fee_sat_per_vb,
        m.fastest_fee_sat_per_vb >= b.p10_fee_rate_sat_per_vb as is_included,
        m.source_loaded_at
    from in_scope as b
    inner join minutes as m
        on m.minute_at >= b.previous_seen_at
        and m.minute_end_at <= b.samples_until

),

per_block as (

    select
        height,
        count(*) as sample_count,
        count_if(is_included) as included_sample_count,
        min(fastest_fee_sat_per_vb) as min_fastest_fee_sat_per_vb,
        avg(fastest_fee_sat_per_vb) as avg_fastest_fee_sat_per_vb,
        max(fastest_fee_sat_per_vb) as max_fastest_fee_sat_per_vb,
        max(source_loaded_at) as samples_loaded_at
    from scored
    group by 1

)

select
    b.height,
    b.block_hash,
    b.mined_at,
    b.first_seen_at,
    b.previous_seen_at,
    b.min_fee_rate_sat_per_vb as block_min_fee_rate_sat_per_vb,
    b.p10_fee_rate_sat_per_vb as block_p10_fee_rate_sat_per_vb,
    b.median_fee_rate_sat_per_vb as block_median_fee_rate_sat_per_vb,
    coalesce(p.sample_count, 0) as sample_count,
    coalesce(p.included_sample_count, 0) as included_sample_count,
    round(p.included_sample_count * 100.0 / nullif(p.sample_count, 0), 2) as included_pct,
    p.min_fastest_fee_sat_per_vb,
    p.avg_fastest_fee_sat_per_vb,
    p.max_fastest_fee_sat_per_vb,
    -- What the recommendation paid above the block's median, on average (sat/vB).
    p.avg_fastest_fee_sat_per_vb - b.median_fee_rate_sat_per_vb as avg_overpay_vs_median_sat_per_vb,
    b.silver_updated_at,
    {{ latest('b.silver_updated_at', 'p.samples_loaded_at') }} as source_loaded_at
from in_scope as b
left join per_block as p on p.height = b.height
