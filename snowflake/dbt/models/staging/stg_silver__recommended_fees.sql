select
    event_key as recommended_fees_id,
    {{ origin_of('event_key') }} as origin_id,
    source,
    received_at,
    fastest_fee_sat_per_vb,
    half_hour_fee_sat_per_vb,
    hour_fee_sat_per_vb,
    economy_fee_sat_per_vb,
    minimum_fee_sat_per_vb,
    loaded_at
from {{ source('silver', 'recommended_fees') }}
