{{ config(
    materialized='incremental',
    unique_key='minute_at',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns',
    pre_hook="{{ ensure_column('source_loaded_at', 'timestamp_ntz') }}"
) }}

{#
  Incremental by what reached SILVER since the last run, not by when it was received:
  a minute that gets a late row (a file delivered an hour late) is recomputed whole.
#}
{% set sources = {
    'mempool': ref('stg_silver__mempool_info'),
    'fees': ref('stg_silver__recommended_fees'),
    'inflow': ref('stg_silver__vbytes_per_second'),
} %}

{% set in_touched_minutes %}
    {% if is_incremental() %}
    where received_at >= (select min(minute_at) from touched_minutes)
        and date_trunc('minute', received_at) in (select minute_at from touched_minutes)
    {% endif %}
{% endset %}

with

{% if is_incremental() %}
touched_minutes as (

    {% for relation in sources.values() %}
    select distinct date_trunc('minute', received_at) as minute_at
    from {{ relation }}
    where loaded_at >= {{ watermark('source_loaded_at') }}
    {% if not loop.last %}union{% endif %}
    {% endfor %}

),
{% endif %}

mempool as (

    {{ last_per_minute(sources['mempool'], 'mempool_info_id',
                       ['tx_count', 'vsize', 'total_fee_sat', 'total_fee_btc',
                        'min_fee_sat_per_vb'], in_touched_minutes) }}

),

fees as (

    {{ last_per_minute(sources['fees'], 'recommended_fees_id',
                       ['fastest_fee_sat_per_vb', 'half_hour_fee_sat_per_vb',
                        'hour_fee_sat_per_vb', 'economy_fee_sat_per_vb',
                        'minimum_fee_sat_per_vb'], in_touched_minutes) }}

),

inflow as (

    select
        date_trunc('minute', received_at) as minute_at,
        avg(vbytes_per_second) as vbytes_per_second,
        max(loaded_at) as loaded_at
    from {{ sources['inflow'] }}
    {{ in_touched_minutes }}
    group by 1

)

select
    mempool.minute_at,
    mempool.tx_count,
    mempool.vsize,
    mempool.total_fee_sat,
    mempool.total_fee_btc,
    mempool.min_fee_sat_per_vb as mempool_min_fee_sat_per_vb,
    fees.fastest_fee_sat_per_vb,
    fees.half_hour_fee_sat_per_vb,
    fees.hour_fee_sat_per_vb,
    fees.economy_fee_sat_per_vb,
    fees.minimum_fee_sat_per_vb,
    inflow.vbytes_per_second,
    {{ latest('mempool.loaded_at', 'fees.loaded_at', 'inflow.loaded_at') }} as source_loaded_at
from mempool
left join fees on fees.minute_at = mempool.minute_at
left join inflow on inflow.minute_at = mempool.minute_at
