select
    event_key as vbytes_per_second_id,
    received_at,
    vbytes_per_second,
    loaded_at
from {{ source('silver', 'vbytes_per_second') }}
