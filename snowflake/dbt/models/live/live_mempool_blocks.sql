-- The projected blocks strip as SILVER's newest frame has it (fct_mempool_blocks'
-- logic over Live's window, its latest minute only).
with

{{ mempool_blocks_per_minute('where received_at >= ' ~ live_window_start()) }}

select * from mempool_blocks_per_minute
qualify minute_at = max(minute_at) over ()
