{{ config(
    materialized='incremental',
    unique_key='minute_at',
    incremental_strategy=incremental_strategy(),
    on_schema_change='append_new_columns'
) }}

{% set since %}
    {% if is_incremental() %}
    where received_at >= (
        select dateadd('minute', -{{ var('late_arrival_minutes') }}, coalesce(max(minute_at), '1970-01-01'::timestamp_ntz))
        from {{ this }}
    )
    {% endif %}
{% endset %}

with mempool as (

    {{ last_per_minute(ref('stg_silver__mempool_info'), 'mempool_info_id',
                       ['tx_count', 'vsize', 'total_fee_sat', 'total_fee_btc',
                        'min_fee_sat_per_vb'], since) }}

),

fees as (

    {{ last_per_minute(ref('stg_silver__recommended_fees'), 'recommended_fees_id',
                       ['fastest_fee_sat_per_vb', 'half_hour_fee_sat_per_vb',
                        'hour_fee_sat_per_vb', 'economy_fee_sat_per_vb',
                        'minimum_fee_sat_per_vb'], since) }}

),

inflow as (

    select
        date_trunc('minute', received_at) as minute_at,
        avg(vbytes_per_second) as vbytes_per_second
    from {{ ref('stg_silver__vbytes_per_second') }}
    {{ since }}
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
    inflow.vbytes_per_second
from mempool
left join fees on fees.minute_at = mempool.minute_at
left join inflow on inflow.minute_at = mempool.minute_at
