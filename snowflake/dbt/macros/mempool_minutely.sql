{#
  The mempool per minute: the last sample of each minute (of any streamer) for its size
  and the recommended fees, the minute's average for inflow over its leading origin's
  samples (leading_origin_rows): one streamer or two give the same minute. Shared by the history mart
  (fct_mempool_minutely, the minutes a run touched) and Live's view (the recent window),
  so both read the same numbers. `where` limits the rows each source is read for; the
  caller's WITH clause must be open (these are CTEs followed by the final select).
#}
{% macro mempool_minutely(where='') -%}
mempool as (

    {{ last_per_minute(ref('stg_silver__mempool_info'), 'mempool_info_id',
                       ['tx_count', 'vsize', 'total_fee_sat', 'total_fee_btc',
                        'min_fee_sat_per_vb'], where) }}

),

fees as (

    {{ last_per_minute(ref('stg_silver__recommended_fees'), 'recommended_fees_id',
                       ['fastest_fee_sat_per_vb', 'half_hour_fee_sat_per_vb',
                        'hour_fee_sat_per_vb', 'economy_fee_sat_per_vb',
                        'minimum_fee_sat_per_vb'], where) }}

),

inflow as (

    select
        minute_at,
        avg(vbytes_per_second) as vbytes_per_second,
        max(minute_loaded_at) as loaded_at
    from ({{ leading_origin_rows(ref('stg_silver__vbytes_per_second'), where) }})
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
{%- endmacro %}
