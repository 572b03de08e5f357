-- Teardown: the pipes, as INGEST (their owner). Dropped before the database so that
-- Snowpipe stops loading (and billing) even if a later step is refused; the bucket's
-- event notifications then point at a queue nobody reads, until `terraform destroy`.
-- https://docs.snowflake.com/en/sql-reference/sql/drop-pipe
DROP PIPE IF EXISTS <% database %>.RAW.STREAM_EVENTS_PIPE;
DROP PIPE IF EXISTS <% database %>.RAW.CONVERSIONS_PIPE;
DROP PIPE IF EXISTS <% database %>.RAW.BLOCKS_PIPE;
DROP PIPE IF EXISTS <% database %>.RAW.PRICES_PIPE;
DROP PIPE IF EXISTS <% database %>.RAW.REST_STATS_PIPE;
DROP PIPE IF EXISTS <% database %>.RAW.OVERSIZE_PIPE;
