select
    event_key as vbytes_per_second_id,
    received_at,
    vbytes_per_second
from {{ source('silver', 'vbytes_per_second') }}
