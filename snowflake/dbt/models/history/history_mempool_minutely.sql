-- History's mempool and fee minutes: fct_mempool_minutely before Live's window, Live's
-- view of SILVER within it. The mart is as fresh as REFRESH_GOLD's last run; the view
-- is as fresh as SILVER. So History's charts reach the current minute as Live does,
-- and gold can run as seldom as its bill asks, as long as each run comes within
-- `live_window_hours` of the one before (otherwise the minutes in between are missing,
-- and FRESHNESS_ALERT says why: the mart is past its target).
{% set columns = [
    'minute_at', 'tx_count', 'vsize', 'total_fee_sat', 'total_fee_btc',
    'mempool_min_fee_sat_per_vb', 'fastest_fee_sat_per_vb', 'half_hour_fee_sat_per_vb',
    'hour_fee_sat_per_vb', 'economy_fee_sat_per_vb', 'minimum_fee_sat_per_vb',
    'vbytes_per_second', 'source_loaded_at',
] %}

with boundary as (

    -- The window's first whole minute: the view holds only part of the minute the
    -- window starts in, the mart holds it whole.
    select dateadd('minute', 1, date_trunc('minute', {{ live_window_start() }})) as minute_at

)

select {{ columns | join(', ') }}, false as is_live
from {{ ref('fct_mempool_minutely') }}
where minute_at < (select minute_at from boundary)

union all

select {{ columns | join(', ') }}, true as is_live
from {{ ref('live_mempool_minutely') }}
where minute_at >= (select minute_at from boundary)
