-- Append-only streams, one per consumer. Run as TRANSFORM. RAW streams feed
-- LOAD_EVENTS; the streams on SILVER.EVENTS feed one builder each, so each keeps its
-- own offset.

CREATE STREAM IF NOT EXISTS <% database %>.RAW.STREAM_EVENTS_STRM ON TABLE <% database %>.RAW.STREAM_EVENTS APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.RAW.CONVERSIONS_STRM ON TABLE <% database %>.RAW.CONVERSIONS APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.RAW.BLOCKS_STRM ON TABLE <% database %>.RAW.BLOCKS APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.RAW.PRICES_STRM ON TABLE <% database %>.RAW.PRICES APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.RAW.REST_STATS_STRM ON TABLE <% database %>.RAW.REST_STATS APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.RAW.OVERSIZE_STRM ON TABLE <% database %>.RAW.OVERSIZE APPEND_ONLY = TRUE;

CREATE STREAM IF NOT EXISTS <% database %>.SILVER.EVENTS_STATS_STRM ON TABLE <% database %>.SILVER.EVENTS APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.SILVER.EVENTS_BLOCKS_STRM ON TABLE <% database %>.SILVER.EVENTS APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.SILVER.EVENTS_PRICES_STRM ON TABLE <% database %>.SILVER.EVENTS APPEND_ONLY = TRUE;
CREATE STREAM IF NOT EXISTS <% database %>.SILVER.EVENTS_PROJECTED_STRM ON TABLE <% database %>.SILVER.EVENTS APPEND_ONLY = TRUE;

-- Requests for a silver run (30_silver.sql): REFRESH_SILVER's WHEN reads it, and the
-- procedure consumes it at the start of each run. In SILVER, beside the streams TRANSFORM
-- consumes, though the table is in OPS: CREATE STREAM on OPS would be a grant, which only
-- an administrator's deploy runs, and CI upgrades with --skip-admin.
CREATE STREAM IF NOT EXISTS <% database %>.SILVER.REQUESTS_STRM ON TABLE <% database %>.OPS.SILVER_REQUESTS APPEND_ONLY = TRUE;
-- Requests for a gold run (30_silver.sql; REFRESH_GOLD's WHEN, and its run consumes them):
-- in SILVER for the same reason, TRANSFORM holding no CREATE STREAM in GOLD either.
CREATE STREAM IF NOT EXISTS <% database %>.SILVER.GOLD_REQUESTS_STRM ON TABLE <% database %>.OPS.GOLD_REQUESTS APPEND_ONLY = TRUE;
