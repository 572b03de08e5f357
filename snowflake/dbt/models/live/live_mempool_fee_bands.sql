-- The mempool over Live's window by fee band, as mempool.space's front page charts it:
-- one row per statistic (mempool.space's own time, added_at_s), whichever streamer
-- received it first, so two streamers do not draw it twice. stat_at is our receipt
-- time, the clock every other Live section runs on.
select
    received_at as stat_at,
    added_at_s,
    tx_count,
    vbytes_per_second,
    vsizes,
    loaded_at
from {{ ref('stg_silver__live_2h_chart') }}
where received_at >= {{ live_window_start() }}
qualify row_number() over (
    partition by added_at_s order by received_at, live_2h_chart_id
) = 1
