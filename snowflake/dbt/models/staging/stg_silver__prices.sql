select
    price_time_s,
    to_timestamp_ntz(price_time_s) as priced_at,
    source_topic,
    usd as usd_per_btc,
    eur as eur_per_btc,
    gbp as gbp_per_btc,
    cad as cad_per_btc,
    chf as chf_per_btc,
    aud as aud_per_btc,
    jpy as jpy_per_btc,
    received_at,
    loaded_at
from {{ source('silver', 'prices') }}
