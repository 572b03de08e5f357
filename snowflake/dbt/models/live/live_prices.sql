-- The newest BTC price SILVER holds among those received in Live's window. By price
-- time: a backfill received now carries old prices.
select
    price_time_s,
    priced_at,
    source_topic,
    usd_per_btc,
    eur_per_btc,
    received_at,
    loaded_at
from {{ ref('stg_silver__prices') }}
where received_at >= {{ live_window_start() }}
qualify row_number() over (order by priced_at desc, received_at desc, source_topic) = 1
