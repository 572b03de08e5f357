-- fct_mempool_minutely's minutes over Live's window, read from SILVER at query time:
-- the current minute's row is SILVER's newest sample, not the last gold refresh's.
with

{{ mempool_minutely('where received_at >= ' ~ live_window_start()) }}
