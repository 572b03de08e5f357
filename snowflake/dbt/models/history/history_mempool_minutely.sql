-- History's mempool and fee minutes: fct_mempool_minutely up to its newest minute, and
-- from that minute on the same minutes computed from SILVER when read (the macro the
-- mart and Live's view share). The mart is as fresh as REFRESH_GOLD's last run; the rest
-- is as fresh as SILVER, whatever the gold schedule (however long since the last run,
-- SILVER is read from where the mart ends: no minute missing). The mart's newest minute
-- is read again whole: a run can have built it half-way through. An empty mart (before
-- gold's first run) leaves Live's window.
{% set columns = [
    'minute_at', 'tx_count', 'vsize', 'total_fee_sat', 'total_fee_btc',
    'mempool_min_fee_sat_per_vb', 'fastest_fee_sat_per_vb', 'half_hour_fee_sat_per_vb',
    'hour_fee_sat_per_vb', 'economy_fee_sat_per_vb', 'minimum_fee_sat_per_vb',
    'vbytes_per_second', 'source_loaded_at',
] %}
{% set boundary -%}
    (select coalesce(
        max(minute_at),
        dateadd('minute', 1, date_trunc('minute', {{ live_window_start() }}))
    ) from {{ ref('fct_mempool_minutely') }})
{%- endset %}

with

{{ mempool_minutely('where received_at >= ' ~ boundary) }}

union all

select {{ columns | join(', ') }}
from {{ ref('fct_mempool_minutely') }}
where minute_at < {{ boundary }}
