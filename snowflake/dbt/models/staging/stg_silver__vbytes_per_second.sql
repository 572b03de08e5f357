select
    event_key as vbytes_per_second_id,
    {{ origin_of('event_key') }} as origin_id,
    received_at,
    vbytes_per_second,
    loaded_at
from {{ source('silver', 'vbytes_per_second') }}
